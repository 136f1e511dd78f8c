"""boto3 clients with the standard credential chain, and AWS errors as our errors.

Credentials, region and endpoints come from boto3's usual sources: ``--profile``/``--region``
when given, then ``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``...,
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_S3`` (botocore reads these itself), config files,
SSO and instance roles.
"""

from __future__ import annotations

import os
from typing import Any

from mtls_doctor.errors import AwsAccessError, InputError, MtlsDoctorError

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "UnauthorizedOperation",
    "AuthorizationError",
}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "RequestExpired",
    "InvalidToken",
}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
    "PriorRequestNotComplete",
}
_NOT_FOUND = {
    "NoSuchBucket": "no such bucket",
    "NoSuchKey": "no such object",
    "404": "not found",
    "NotFound": "not found",
    "LoadBalancerNotFound": "no such load balancer",
    "ListenerNotFound": "no such listener",
    "TrustStoreNotFound": "no such trust store",
    "RevocationIdNotFound": "no such revocation list",
}
CREDENTIALS_HINT = (
    "Give --profile or set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); for SSO "
    "run 'aws sso login'. Check the identity with 'aws sts get-caller-identity'."
)


def new_client(
    service: str, *, profile: str | None = None, region: str | None = None, pool: int = 10
) -> Any:
    """A boto3 client with standard-mode retries (backoff on throttling and 5xx)."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=max(pool, 10),
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="mtls-doctor",
    )
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which the other AWS SDKs and
    # the CLI v2 set; an explicit region (--region, the ARN's) still comes first.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return session.client(service, config=config)
    except botocore.exceptions.ProfileNotFound as error:
        raise AwsAccessError(
            f"AWS profile {profile!r} not found",
            hint="List profiles with 'aws configure list-profiles'.",
        ) from error
    except botocore.exceptions.NoRegionError as error:
        raise AwsAccessError(
            f"no AWS region for {service}",
            hint="Give --region, or set AWS_REGION / a region in the profile.",
        ) from error


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (else None)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_transient(error: BaseException) -> bool:
    """Throttling, 5xx and dropped connections: worth another try after a pause."""
    import botocore.exceptions as bex

    if isinstance(
        error,
        (
            bex.EndpointConnectionError,
            bex.ConnectionClosedError,
            bex.ReadTimeoutError,
            bex.ConnectTimeoutError,
            bex.IncompleteReadError,
            bex.ResponseStreamingError,
        ),
    ):
        return True
    code = error_code(error)
    if code in _TRANSIENT:
        return True
    status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


def describe(error: BaseException) -> str:
    """A short text for an AWS error: ``Code: message`` or the exception text."""
    code = error_code(error)
    if code is not None:
        message = getattr(error, "response", {}).get("Error", {}).get("Message") or ""
        return f"{code}: {message}".rstrip(": ")
    return str(error) or type(error).__name__


def translate(error: BaseException, *, action: str, resource: str) -> MtlsDoctorError:
    """Our error for a botocore failure of ``action`` (``s3:GetObject``...) on ``resource``."""
    import botocore.exceptions as bex

    if isinstance(error, MtlsDoctorError):
        return error
    code = error_code(error)
    no_credentials = (
        bex.NoCredentialsError,
        bex.PartialCredentialsError,
        bex.CredentialRetrievalError,
        bex.TokenRetrievalError,
        bex.SSOError,
    )
    if isinstance(error, no_credentials):
        return AwsAccessError(
            f"{resource}: no usable AWS credentials for {action}", CREDENTIALS_HINT
        )
    if code in _DENIED:
        return AwsAccessError(
            f"{resource}: access denied to {action} ({describe(error)})",
            hint=f"Allow {action} on {resource} for the identity in use (a bucket policy, an "
            "SCP or a KMS key policy can also refuse it); 'aws sts get-caller-identity' "
            "shows which identity that is.",
        )
    if code in _BAD_CREDENTIALS:
        return AwsAccessError(
            f"{resource}: AWS rejected the credentials for {action} ({describe(error)})",
            CREDENTIALS_HINT,
        )
    if code in _NOT_FOUND:
        return InputError(f"{resource}: {_NOT_FOUND[code]} ({action})", hint=_not_found_hint(code))
    if code == "ValidationError":
        return InputError(f"{resource}: {describe(error)}", hint="Check the ARN.")
    if isinstance(error, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return AwsAccessError(
            f"{resource}: cannot reach the AWS endpoint for {action} ({error})",
            hint="Check the network, --region, and AWS_ENDPOINT_URL if it is set.",
        )
    return AwsAccessError(
        f"{resource}: {action} failed ({describe(error)})",
        hint="Retry later; --debug shows the trace.",
    )


def _not_found_hint(code: str) -> str:
    if code == "NoSuchBucket":
        return "Check the bucket name (s3://BUCKET/prefix)."
    return "Check the ARN and --region (ARNs are per region and account)."


def region_of_arn(arn: str) -> str | None:
    """The region field of an ARN (``arn:aws:elasticloadbalancing:REGION:ACCOUNT:...``)."""
    parts = arn.split(":")
    return parts[3] or None if len(parts) > 5 and parts[0] == "arn" else None


def account_of_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] or None if len(parts) > 5 and parts[0] == "arn" else None


def partition_of_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 5 and parts[0] == "arn" else "aws"


def check_arn(arn: str, kind: str) -> str:
    """``arn`` if it is an ELB ARN of ``kind`` (listener, truststore, loadbalancer)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "elasticloadbalancing":
        raise InputError(
            f"{arn}: not an Elastic Load Balancing ARN",
            hint=f"Expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:{kind}/...",
        )
    if not parts[5].startswith(kind + "/"):
        raise InputError(f"{arn}: not a {kind} ARN", hint=f"The resource part starts with {kind}/.")
    return arn
