"""Vendor layers: layers other accounts publish, watched for new versions and bumped through the gate."""
