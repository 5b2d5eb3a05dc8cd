"""What Lambda defines (layer ARNs, quotas, managed runtimes, native-code rules), checked by every stage."""
