"""Every boto3 call layer-ci makes: Lambda and S3 clients per region, with retries, timeouts, clear errors."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore
import botocore.loaders
import botocore.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from layer_ci.errors import LayerCiError, OutcomeUnknown, ServiceError, UsageError

RetryMode = Literal["standard", "adaptive"]

# Multipart pieces of 16 MiB: few enough requests for a 250 MB layer, small enough to retry cheaply.
MULTIPART_THRESHOLD_BYTES = 16 * 1024 * 1024
MULTIPART_CHUNK_BYTES = 16 * 1024 * 1024

IAM_POLICY_DOC = "docs/iam.md"

# The IAM action each operation needs, for AccessDenied messages (HeadObject is authorised by s3:GetObject).
_IAM_ACTION = {
    # Without s3:ListBucket, S3 answers 403 (not 404) for a missing key, so HEAD needs both.
    "HeadObject": "s3:GetObject and s3:ListBucket",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "GetParametersByPath": "ssm:GetParametersByPath",
}

_THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded"}
)
_ACCESS_DENIED_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "AuthorizationError", "403"}
)
_REGION_PATTERN = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$")


class OutcomeUnknownError(OutcomeUnknown):
    """A write that may or may not have taken effect (timeout or dropped connection after every retry)."""


class ConflictError(ServiceError):
    """The service refused a write because the resource (e.g. a statement id) already exists."""


# Environment overrides of the client's timeouts and attempts (e.g. a slow proxy, or a test's short fuse).
READ_TIMEOUT_ENV = "LAYER_CI_AWS_READ_TIMEOUT"
CONNECT_TIMEOUT_ENV = "LAYER_CI_AWS_CONNECT_TIMEOUT"
MAX_ATTEMPTS_ENV = "AWS_MAX_ATTEMPTS"  # botocore's own variable, which an explicit config would override


@dataclass(frozen=True)
class AwsOptions:
    """Client behaviour: botocore retry mode and attempts, and socket timeouts in seconds."""

    retry_mode: RetryMode = "standard"
    max_attempts: int = 6  # total attempts, the first included
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # a 50 MB direct upload must fit in one read window

    @classmethod
    def from_env(
        cls, retry_mode: RetryMode = "standard", environ: Mapping[str, str] | None = None
    ) -> AwsOptions:
        """The defaults, with LAYER_CI_AWS_READ_TIMEOUT, LAYER_CI_AWS_CONNECT_TIMEOUT and AWS_MAX_ATTEMPTS."""
        env = os.environ if environ is None else environ
        defaults = cls(retry_mode=retry_mode)
        return cls(
            retry_mode=retry_mode,
            max_attempts=int(_env_number(env, MAX_ATTEMPTS_ENV, defaults.max_attempts, 1, 20, whole=True)),
            connect_timeout=_env_number(env, CONNECT_TIMEOUT_ENV, defaults.connect_timeout, 0.05, 3600),
            read_timeout=_env_number(env, READ_TIMEOUT_ENV, defaults.read_timeout, 0.05, 3600),
        )


def _env_number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, *, whole: bool = False
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        kind = "a whole number" if whole else "a number of seconds"
        raise UsageError(f"{name}={raw!r} is not {kind} from {low:g} to {high:g}; fix or unset it")
    return value


@functools.cache
def _shared_loader() -> Any:
    # Parsing botocore's service models dominates client creation; one loader (it caches what it has
    # read) serves every per-region session.
    return botocore.loaders.create_loader()


def _session(region: str | None = None) -> Any:
    """A fresh boto3 session (credentials resolved per session) sharing the parsed service models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core, region_name=region)


@functools.cache
def known_lambda_regions() -> frozenset[str]:
    """Regions botocore knows Lambda in, across every partition (aws, aws-cn, aws-us-gov, ...)."""
    session = _session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    return frozenset(regions)


@functools.cache
def partition_of(region: str) -> str:
    """The ARN partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""
    session = _session()
    for partition in session.get_available_partitions():
        if region in session.get_available_regions("lambda", partition_name=partition):
            return str(partition)
    return "aws"


def check_region(region: str) -> None:
    """Refuse a region Lambda does not have before any request (a typo would otherwise fail on DNS)."""
    if _REGION_PATTERN.match(region) and region in known_lambda_regions():
        return
    raise UsageError(
        f"unknown AWS region {region!r}: not a Lambda region known to botocore {botocore.__version__}; "
        "fix `regions:` in layer-ci.yml (e.g. us-east-1), or upgrade boto3 if the region is new"
    )


class AwsAdapter:
    """Lambda and S3 clients for one region; the endpoint comes from the standard ``AWS_ENDPOINT_URL``."""

    def __init__(self, region: str, options: AwsOptions | None = None) -> None:
        check_region(region)
        self.region = region
        self.options = options or AwsOptions()
        self._session = _session(region)
        self._config = BotoConfig(
            region_name=region,
            retries={"mode": self.options.retry_mode, "total_max_attempts": self.options.max_attempts},
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
            user_agent_extra="layer-ci",
        )
        # boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_LAMBDA itself (since 1.28), so tests and
        # LocalStack-style setups need no layer-ci-specific switch.
        self._lambda = self._session.client("lambda", config=self._config)
        self._s3_client: Any = None
        self._ssm_client: Any = None

    @property
    def _s3(self) -> Any:
        # Most runs never touch S3: create its client on first use.
        if self._s3_client is None:
            self._s3_client = self._session.client("s3", config=self._config)
        return self._s3_client

    # ----- Lambda layers -------------------------------------------------------------------------

    def list_layer_versions(self, layer: str) -> list[dict[str, Any]]:
        """Every version of a layer, newest first, following ``NextMarker`` across pages."""
        versions: list[dict[str, Any]] = []
        with self._calling("lambda", "ListLayerVersions", layer):
            try:
                paginator = self._lambda.get_paginator("list_layer_versions")
                for page in paginator.paginate(LayerName=layer, PaginationConfig={"PageSize": 50}):
                    versions.extend(page.get("LayerVersions", []))
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return []
                raise
        return versions

    def get_layer_version(self, layer: str, version: int) -> dict[str, Any] | None:
        """One version (``layer`` may be a name or a layer ARN); None when it does not exist (deleted)."""
        with self._calling("lambda", "GetLayerVersion", f"{layer}:{version}"):
            try:
                response: dict[str, Any] = self._lambda.get_layer_version(
                    LayerName=layer, VersionNumber=version
                )
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return None
                raise
        response.pop("ResponseMetadata", None)
        return response

    def publish_layer_version(self, request: dict[str, Any], *, zip_bytes: int) -> dict[str, Any]:
        """PublishLayerVersion; a timeout after retries raises OutcomeUnknownError (the caller re-lists)."""
        layer = str(request["LayerName"])
        with self._calling("lambda", "PublishLayerVersion", layer, zip_bytes=zip_bytes, unknown_outcome=True):
            response: dict[str, Any] = self._lambda.publish_layer_version(**request)
        response.pop("ResponseMetadata", None)
        return response

    def delete_layer_version(self, layer: str, version: int) -> None:
        """DeleteLayerVersion (Lambda answers success for a version that is already gone)."""
        with self._calling("lambda", "DeleteLayerVersion", f"{layer}:{version}"):
            self._lambda.delete_layer_version(LayerName=layer, VersionNumber=version)

    def get_layer_version_policy(self, layer: str, version: int) -> list[dict[str, Any]]:
        """The statements of a version's resource policy ([] when it has none)."""
        import json

        with self._calling("lambda", "GetLayerVersionPolicy", f"{layer}:{version}"):
            try:
                response = self._lambda.get_layer_version_policy(LayerName=layer, VersionNumber=version)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return []
                raise
        policy = json.loads(response.get("Policy") or "{}")
        statements = policy.get("Statement", [])
        return [statements] if isinstance(statements, dict) else list(statements)

    def add_layer_version_permission(
        self, layer: str, version: int, statement_id: str, principal: str, organization_id: str | None
    ) -> None:
        """AddLayerVersionPermission (lambda:GetLayerVersion); ConflictError when the statement id exists."""
        request: dict[str, Any] = {
            "LayerName": layer,
            "VersionNumber": version,
            "StatementId": statement_id,
            "Action": "lambda:GetLayerVersion",
            "Principal": principal,
        }
        if organization_id:
            request["OrganizationId"] = organization_id
        with self._calling("lambda", "AddLayerVersionPermission", f"{layer}:{version}"):
            try:
                self._lambda.add_layer_version_permission(**request)
            except ClientError as exc:
                if _code(exc) == "ResourceConflictException":
                    raise ConflictError(
                        "AWS Lambda", "AddLayerVersionPermission", f"statement id {statement_id} exists"
                    ) from exc
                raise

    def list_functions(self, *, all_versions: bool = False) -> list[dict[str, Any]]:
        """Every function configuration in the region (paginated); every published version when asked."""
        functions: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FunctionVersion": "ALL"} if all_versions else {}
        with self._calling("lambda", "ListFunctions", "*"):
            paginator = self._lambda.get_paginator("list_functions")
            for page in paginator.paginate(**kwargs):
                functions.extend(page.get("Functions", []))
        return functions

    def code_storage(self) -> tuple[int, int] | None:
        """(bytes used, bytes allowed) of the account's code storage, or None when it cannot be read."""
        try:
            settings = self._lambda.get_account_settings()
            return int(settings["AccountUsage"]["TotalCodeSize"]), int(
                settings["AccountLimit"]["TotalCodeSize"]
            )
        except (BotoCoreError, ClientError, KeyError, TypeError, ValueError):
            return None

    def account_id(self) -> str:
        """The caller's account id (STS GetCallerIdentity needs no IAM permission)."""
        sts = self._session.client("sts", config=self._config)
        with self._calling("sts", "GetCallerIdentity", "caller"):
            return str(sts.get_caller_identity()["Account"])

    # ----- vendor layers (other accounts' layers, read only) ----------------------------------------

    def list_layer_versions_if_allowed(self, layer_arn: str) -> list[dict[str, Any]] | None:
        """Every version of another account's layer (by layer ARN); None when its owner does not allow
        lambda:ListLayerVersions (most vendors grant only GetLayerVersion), [] when it does not exist."""
        try:
            return self.list_layer_versions(layer_arn)
        except ServiceError as exc:
            if _denied(exc.__cause__):
                return None
            raise

    def ssm_parameters_by_path(self, path: str) -> list[tuple[str, str]] | None:
        """(name, value) of every parameter under ``path`` (recursive, paginated); None when denied."""
        client = self._ssm
        found: list[tuple[str, str]] = []
        try:
            with self._calling("ssm", "GetParametersByPath", path):
                paginator = client.get_paginator("get_parameters_by_path")
                for page in paginator.paginate(Path=path, Recursive=True):
                    for parameter in page.get("Parameters", []):
                        found.append((str(parameter.get("Name", "")), str(parameter.get("Value", ""))))
        except ServiceError as exc:
            if _denied(exc.__cause__):
                return None
            raise
        return found

    @property
    def _ssm(self) -> Any:
        if self._ssm_client is None:
            self._ssm_client = self._session.client("ssm", config=self._config)
        return self._ssm_client

    # ----- S3 artifacts ---------------------------------------------------------------------------

    def object_size(self, bucket: str, key: str) -> int | None:
        """The stored size of s3://bucket/key, None when absent."""
        with self._calling("s3", "HeadObject", f"s3://{bucket}/{key}"):
            try:
                head = self._s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in {"404", "NoSuchKey", "NotFound"}:
                    return None
                raise
        return int(head["ContentLength"])

    def upload_file(self, path: Path, bucket: str, key: str) -> None:
        """Upload with boto3's managed transfer: multipart, parallel parts, each part retried."""
        from boto3.exceptions import S3UploadFailedError

        transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD_BYTES,
            multipart_chunksize=MULTIPART_CHUNK_BYTES,
            max_concurrency=4,
        )
        with self._calling("s3", "PutObject", f"s3://{bucket}/{key}"):
            try:
                self._s3.upload_file(str(path), bucket, key, Config=transfer)
            except S3UploadFailedError as exc:
                cause = exc.__context__
                if isinstance(cause, ClientError):
                    raise cause from exc
                raise ServiceError("AWS S3", "PutObject", f"upload to s3://{bucket}/{key}: {exc}") from exc

    def download_file(self, bucket: str, key: str, dest: Path) -> None:
        """Download s3://bucket/key to ``dest`` with the managed transfer."""
        with self._calling("s3", "GetObject", f"s3://{bucket}/{key}"):
            self._s3.download_file(bucket, key, str(dest))

    def etag(self, bucket: str, key: str) -> str:
        """The object's ETag (a ``-N`` suffix means it was assembled from N multipart pieces)."""
        with self._calling("s3", "HeadObject", f"s3://{bucket}/{key}"):
            return str(self._s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')

    # ----- error mapping --------------------------------------------------------------------------

    @contextmanager
    def _calling(
        self,
        service: str,
        operation: str,
        resource: str,
        *,
        zip_bytes: int = 0,
        unknown_outcome: bool = False,
    ) -> Iterator[None]:
        """Turn botocore failures into one-line LayerCiErrors naming service, operation and the fix."""
        label = {"lambda": "AWS Lambda", "s3": "AWS S3", "sts": "AWS STS", "ssm": "AWS SSM"}.get(
            service, f"AWS {service}"
        )
        try:
            yield
        except LayerCiError:
            raise
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if unknown_outcome and status >= 500:
                # A server error on a write may come after the write took effect.
                raise OutcomeUnknownError(
                    label,
                    operation,
                    f"{_code(exc) or status} from {self.region} after {self.options.max_attempts} attempts "
                    f"({_message(exc) or 'no message'}); the request may have taken effect",
                ) from exc
            raise self._client_error(label, service, operation, resource, exc, zip_bytes) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ServiceError(
                label,
                operation,
                "no AWS credentials found; in GitHub Actions assume a role with "
                f"aws-actions/configure-aws-credentials (see {IAM_POLICY_DOC}), or set `registry: local`",
            ) from exc
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            error_type = OutcomeUnknownError if unknown_outcome else ServiceError
            # Only a write can have half-happened; a read that timed out just needs a rerun.
            after = "the request may have taken effect" if unknown_outcome else "rerun later"
            raise error_type(
                label,
                operation,
                f"no answer from {self.region} after {self.options.max_attempts} attempts ({exc}); {after}",
            ) from exc
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise ServiceError(
                label,
                operation,
                f"cannot reach the {service} endpoint for {self.region} ({exc}); "
                "check network access, the region, or AWS_ENDPOINT_URL",
            ) from exc
        except BotoCoreError as exc:
            raise ServiceError(label, operation, f"{type(exc).__name__}: {exc}") from exc

    def _client_error(
        self, label: str, service: str, operation: str, resource: str, exc: ClientError, zip_bytes: int
    ) -> LayerCiError:
        code = _code(exc)
        message = _message(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = f"{resource} in {self.region}"
        if code in _ACCESS_DENIED_CODES or (status == 403 and code not in _THROTTLING_CODES):
            action = _IAM_ACTION.get(operation, f"{service}:{operation}")
            return ServiceError(
                label,
                operation,
                f"access denied for {where}: the credentials lack IAM permission {action}; "
                f"grant it (minimal policies per command: {IAM_POLICY_DOC})",
            )
        if code in _THROTTLING_CODES or status == 429:
            return ServiceError(
                label,
                operation,
                f"throttled ({code}) for {where} after {self.options.max_attempts} attempts; "
                "rerun later, or set `settings.retry_mode: adaptive` in layer-ci.yml",
            )
        if code == "CodeStorageExceededException":
            return ServiceError(label, operation, self._code_storage_detail(where, zip_bytes, message))
        if code == "RequestEntityTooLargeException" or status == 413:
            return ServiceError(
                label,
                operation,
                f"request too large for {where} ({_mb(zip_bytes)} zip sent directly; Lambda caps direct "
                "uploads near 70 MB of request body); set `settings.artifact_bucket` in layer-ci.yml so "
                "layers are published through S3",
            )
        if code == "InvalidParameterValueException":
            hint = ""
            if "unzipped size" in message.lower():
                hint = "; the layer unzips past Lambda's 262,144,000-byte limit: trim or split it"
            elif "S3 Error" in message:
                hint = "; check settings.artifact_bucket exists in this region and the key was uploaded"
            return ServiceError(label, operation, f"Lambda rejected {where}: {message}{hint}")
        if code in {"NoSuchBucket"}:
            return ServiceError(
                label,
                operation,
                f"bucket for {resource} does not exist in {self.region}; create it or fix "
                "`settings.artifact_bucket` (use {region} in the name for one bucket per region)",
            )
        if code in {
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
            "ExpiredTokenException",
        }:
            return ServiceError(
                label, operation, f"credentials refused ({code}: {message}); refresh or re-assume the role"
            )
        return ServiceError(label, operation, f"{code or status}: {message or 'no message'} ({where})")

    def _code_storage_detail(self, where: str, zip_bytes: int, message: str) -> str:
        storage = self.code_storage()
        usage = (
            f"{_mb(storage[0])} used of {_mb(storage[1])} allowed"
            if storage
            else "usage unknown (lambda:GetAccountSettings not allowed)"
        )
        return (
            f"code storage quota exceeded publishing {where}: {usage}, this zip needs {_mb(zip_bytes)} more "
            f"({message}); delete unused versions with `layer-ci prune --keep N --apply` "
            "or ask AWS for a code storage quota increase"
        )


AdapterFactory = Callable[[str], AwsAdapter]


def _denied(cause: BaseException | None) -> bool:
    """Whether a failed call was refused for lack of permission (the owner's policy, or ours)."""
    if not isinstance(cause, ClientError):
        return False
    status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(cause) in _ACCESS_DENIED_CODES or (status == 403 and _code(cause) not in _THROTTLING_CODES)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return " ".join(str(error.get("Message") or error.get("message") or "").split())


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
