"""Finding a vendor layer's newest version through the real adapter against moto (behind a fault proxy)."""

from __future__ import annotations

import json

import pytest

from layer_ci.adapters.aws import AwsAdapter
from layer_ci.errors import UsageError
from layer_ci.vendor.lookup import newest_version
from layer_ci.vendor.policy import VendorPolicy
from tests.support.aws import AwsEnv
from tests.support.fault_proxy import FaultProxy, FaultRule, aws_error_rule
from tests.vendor.vendor_support import GOOD, VENDOR, VENDOR_ACCOUNT, Vendor

ARN = f"arn:aws:lambda:us-east-1:{VENDOR_ACCOUNT}:layer:{VENDOR}"
LIST = rf"layer(:|%3A){VENDOR}/versions(\?|$)"


def deny_listing(proxy: FaultProxy) -> FaultRule:
    return proxy.add(aws_error_rule("GET", LIST, 403, "AccessDeniedException", "not allowed", times=100))


def publish(vendor: Vendor, count: int) -> None:
    for index in range(count):
        vendor.publish(GOOD + f"\nVERSION = {index}\n")


def test_probing_walks_up_to_the_first_missing_version_when_listing_is_denied(
    vendor: Vendor, fault_proxy: FaultProxy
) -> None:
    publish(vendor, 4)
    denied = deny_listing(fault_proxy)
    newest = newest_version(AwsAdapter("us-east-1"), ARN, VENDOR_ACCOUNT, VENDOR, 1, VendorPolicy())
    assert (newest.version, newest.found_by) == (4, "GetLayerVersion probing")
    assert denied.hits == 1


def test_max_version_caps_probing_and_listing(vendor: Vendor, fault_proxy: FaultProxy) -> None:
    publish(vendor, 4)
    deny_listing(fault_proxy)
    adapter = AwsAdapter("us-east-1")
    assert newest_version(adapter, ARN, VENDOR_ACCOUNT, VENDOR, 1, VendorPolicy(max_version=2)).version == 2
    # A pin already past the cap is never moved down.
    assert newest_version(adapter, ARN, VENDOR_ACCOUNT, VENDOR, 3, VendorPolicy(max_version=2)).version == 3


def test_a_listing_the_owner_allows_is_used(vendor: Vendor, fault_proxy: FaultProxy) -> None:
    publish(vendor, 2)
    # moto lists only by name, never by another account's ARN; give the listing real Lambda's answer.
    items = [{"LayerVersionArn": f"{ARN}:{v}", "Version": v} for v in (7, 3, 9)]
    fault_proxy.add(
        FaultRule(
            "GET",
            LIST,
            200,
            json.dumps({"LayerVersions": items}).encode(),
            {"Content-Type": "application/json"},
            times=10,
        )
    )
    adapter = AwsAdapter("us-east-1")
    newest = newest_version(adapter, ARN, VENDOR_ACCOUNT, VENDOR, 1, VendorPolicy())
    assert (newest.version, newest.found_by) == (9, "ListLayerVersions")
    assert newest_version(adapter, ARN, VENDOR_ACCOUNT, VENDOR, 1, VendorPolicy(max_version=8)).version == 7


def test_ssm_parameters_are_read_then_probed_past(
    vendor: Vendor, fault_proxy: FaultProxy, aws: AwsEnv
) -> None:
    publish(vendor, 5)
    deny_listing(fault_proxy)
    # AWS reserves /aws/ for itself (moto too): the vendor's path is configurable, the lookup the same.
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/vendor/lib/python3.12/latest", Value=f"{ARN}:4", Type="String")
    ssm.put_parameter(Name="/vendor/lib/python3.12/1.0.0", Value=f"{ARN}:2", Type="String")
    ssm.put_parameter(
        Name="/vendor/lib/other", Value="arn:aws:lambda:us-east-1:111122223333:layer:X:99", Type="String"
    )
    adapter = AwsAdapter("us-east-1")
    policy = VendorPolicy(ssm_path="/vendor/")
    newest = newest_version(adapter, ARN, VENDOR_ACCOUNT, VENDOR, 1, policy)
    # The parameters lag (latest says 4): probing finds 5, as it would a release SSM has not caught up with.
    assert (newest.version, newest.found_by) == (5, "SSM /vendor/, then probing")
    probes = fault_proxy.count("GET", rf"{VENDOR}/versions/\d+$")
    assert probes == 2  # v5 found, v6 missing: nothing below the SSM value is asked for


def test_lookup_list_refuses_a_layer_whose_owner_denies_listing(
    vendor: Vendor, fault_proxy: FaultProxy
) -> None:
    publish(vendor, 1)
    deny_listing(fault_proxy)
    with pytest.raises(UsageError, match="does not allow lambda:ListLayerVersions; set lookup: auto"):
        newest_version(AwsAdapter("us-east-1"), ARN, VENDOR_ACCOUNT, VENDOR, 1, VendorPolicy(lookup="list"))
