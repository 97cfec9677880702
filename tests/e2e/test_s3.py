"""The embedded S3 service, end to end, with boto3 and the real `aws` CLI: buckets, objects,
ranges, aws-chunked uploads, listings (v1 with markers and url encoding, v2 with continuation
tokens), policies, errors, and persistence across a restart.

The CloudTrail records of these calls are checked through LookupEvents elsewhere."""

import hashlib
import io
import json
import subprocess
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import ACCESS_KEY, SECRET_KEY


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    return info.value.response


def code_of(call):
    return error_of(call)["Error"]["Code"]


def run_aws(server, *args):
    """Runs the `aws` CLI and returns the completed process, whatever its outcome."""
    return subprocess.run(["aws", *args], env=server.env, capture_output=True, text=True, timeout=120)


def chunked_put(server, bucket, key, data, chunk_size=8192, trailer=True, declared_length=None):
    """A PutObject with an aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER and a
    trailing CRC32), as SDKs send over HTTPS; botocore never does this over plain HTTP."""
    import base64
    import zlib

    chunks = b""
    for start in range(0, len(data), chunk_size):
        piece = data[start : start + chunk_size]
        chunks += b"%x\r\n" % len(piece) + piece + b"\r\n"
    chunks += b"0\r\n"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if trailer:
        chunks += f"x-amz-checksum-crc32:{crc}\r\n".encode()
    chunks += b"\r\n"
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "X-Amz-Decoded-Content-Length": str(len(data) if declared_length is None else declared_length),
        "Content-Length": str(len(chunks)),
    }
    if trailer:
        headers["X-Amz-Trailer"] = "x-amz-checksum-crc32"
    request = botocore.awsrequest.AWSRequest(
        method="PUT", url=f"{server.endpoint}/{bucket}/{key}", data=chunks, headers=headers
    )
    credentials = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    http_request = urllib.request.Request(prepared.url, data=chunks, method="PUT", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http_request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_cli_bucket_lifecycle(server, tmp_path):
    source = tmp_path / "hello.txt"
    source.write_text("hello world\n")
    server.aws("s3", "mb", "s3://cli-bucket")
    server.aws("s3", "cp", str(source), "s3://cli-bucket/dir/hello.txt")
    server.aws("s3", "cp", str(source), "s3://cli-bucket/dir/sub/space name é.txt")
    server.aws("s3", "cp", str(source), "s3://cli-bucket/top.txt")

    listing = server.aws("s3", "ls")
    assert "cli-bucket" in listing.stdout
    root = server.aws("s3", "ls", "s3://cli-bucket").stdout
    assert "PRE dir/" in root and "top.txt" in root and "hello.txt" not in root
    recursive = server.aws("s3", "ls", "s3://cli-bucket", "--recursive").stdout
    assert "dir/sub/space name é.txt" in recursive

    objects = server.aws("s3api", "list-objects", "--bucket", "cli-bucket", "--prefix", "dir/")
    assert [o["Key"] for o in objects["Contents"]] == ["dir/hello.txt", "dir/sub/space name é.txt"]
    assert objects["Contents"][0]["Size"] == 12

    target = tmp_path / "back.txt"
    server.aws("s3", "cp", "s3://cli-bucket/dir/hello.txt", str(target))
    assert target.read_text() == "hello world\n"

    location = server.aws("s3api", "get-bucket-location", "--bucket", "cli-bucket")
    assert location["LocationConstraint"] is None

    failed = run_aws(server, "s3", "rb", "s3://cli-bucket")
    assert failed.returncode != 0 and "BucketNotEmpty" in failed.stderr
    server.aws("s3", "rm", "s3://cli-bucket/dir", "--recursive")
    remaining = server.client("s3").list_objects_v2(Bucket="cli-bucket")
    assert [o["Key"] for o in remaining["Contents"]] == ["top.txt"]
    server.aws("s3", "rb", "s3://cli-bucket", "--force")
    assert "cli-bucket" not in run_aws(server, "s3", "ls").stdout


def test_bucket_rules_and_regions(server):
    s3 = server.client("s3")
    assert code_of(lambda: s3.create_bucket(Bucket="ab")) == "InvalidBucketName"
    assert code_of(lambda: s3.create_bucket(Bucket="Upper-Case")) == "InvalidBucketName"
    s3.create_bucket(Bucket="east-bucket")
    s3.create_bucket(Bucket="east-bucket")  # us-east-1 answers 200 for an owned bucket
    assert s3.head_bucket(Bucket="east-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert code_of(lambda: s3.head_bucket(Bucket="missing-bucket")) == "404"
    assert code_of(lambda: s3.delete_bucket(Bucket="missing-bucket")) == "NoSuchBucket"
    assert code_of(lambda: s3.list_objects(Bucket="missing-bucket")) == "NoSuchBucket"

    west = server.client("s3", region="eu-west-1")
    west.create_bucket(Bucket="west-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert west.get_bucket_location(Bucket="west-bucket")["LocationConstraint"] == "eu-west-1"
    assert west.head_bucket(Bucket="west-bucket")["BucketRegion"] == "eu-west-1"
    err = error_of(
        lambda: west.create_bucket(Bucket="west-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    )
    assert err["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert code_of(lambda: west.create_bucket(Bucket="no-constraint")) == "IllegalLocationConstraintException"

    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["east-bucket", "west-bucket"]
    page = s3.list_buckets(MaxBuckets=1)
    assert [b["Name"] for b in page["Buckets"]] == ["east-bucket"]
    rest = s3.list_buckets(MaxBuckets=1, ContinuationToken=page["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == ["west-bucket"]

    s3.delete_bucket(Bucket="east-bucket")
    assert code_of(lambda: s3.head_bucket(Bucket="east-bucket")) == "404"


def test_objects_ranges_metadata_and_conditions(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="objects")
    body = b"0123456789"
    put = s3.put_object(
        Bucket="objects", Key="digits", Body=body, ContentType="text/plain", Metadata={"Signature": "abc"}
    )
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()

    got = s3.get_object(Bucket="objects", Key="digits")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["ContentLength"] == 10
    assert got["Metadata"] == {"signature": "abc"}
    assert got["AcceptRanges"] == "bytes"
    assert got["ResponseMetadata"]["HTTPHeaders"]["last-modified"].endswith(" GMT")
    assert "x-amz-request-id" in got["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amz-id-2" in got["ResponseMetadata"]["HTTPHeaders"]

    for spec, expected, content_range in [
        ("bytes=2-4", b"234", "bytes 2-4/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ]:
        part = s3.get_object(Bucket="objects", Key="digits", Range=spec)
        assert part["Body"].read() == expected, spec
        assert part["ContentRange"] == content_range
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    err = error_of(lambda: s3.get_object(Bucket="objects", Key="digits", Range="bytes=10-"))
    assert err["Error"]["Code"] == "InvalidRange"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 416

    head = s3.head_object(Bucket="objects", Key="digits")
    assert head["ContentLength"] == 10 and head["ETag"] == put["ETag"]
    assert head["Metadata"] == {"signature": "abc"}
    assert code_of(lambda: s3.head_object(Bucket="objects", Key="nope")) == "404"
    assert code_of(lambda: s3.get_object(Bucket="objects", Key="nope")) == "NoSuchKey"
    assert code_of(lambda: s3.get_object(Bucket="objects", Key="digits", IfMatch='"other"')) == "PreconditionFailed"
    assert code_of(lambda: s3.get_object(Bucket="objects", Key="digits", IfNoneMatch=put["ETag"])) == "304"

    default_type = s3.put_object(Bucket="objects", Key="untyped", Body=b"x")
    assert s3.head_object(Bucket="objects", Key="untyped")["ContentType"] == "binary/octet-stream"
    assert default_type["ETag"]

    s3.put_object(Bucket="objects", Key="empty", Body=b"")
    assert s3.get_object(Bucket="objects", Key="empty")["Body"].read() == b""

    s3.delete_object(Bucket="objects", Key="digits")
    s3.delete_object(Bucket="objects", Key="digits")  # idempotent
    assert code_of(lambda: s3.get_object(Bucket="objects", Key="digits")) == "NoSuchKey"


def test_chunked_and_checksummed_uploads(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="chunked")
    data = bytes(range(256)) * 1000
    status, headers, _ = chunked_put(server, "chunked", "stream", data)
    assert status == 200, headers
    assert s3.get_object(Bucket="chunked", Key="stream")["Body"].read() == data
    head = s3.head_object(Bucket="chunked", Key="stream")
    assert head["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    assert head.get("ContentEncoding") is None  # aws-chunked is not stored
    status, _, body = chunked_put(server, "chunked", "short", data, declared_length=len(data) + 1)
    assert status == 400 and b"IncompleteBody" in body
    for algorithm in ["CRC32", "SHA1", "SHA256"]:  # CRC32C needs botocore[crt]
        s3.put_object(Bucket="chunked", Key=f"sum-{algorithm}", Body=data, ChecksumAlgorithm=algorithm)
        assert s3.get_object(Bucket="chunked", Key=f"sum-{algorithm}")["Body"].read() == data
    s3.upload_fileobj(io.BytesIO(data), "chunked", "uploaded")
    assert s3.head_object(Bucket="chunked", Key="uploaded")["ContentLength"] == len(data)
    err = code_of(
        lambda: s3.put_object(Bucket="chunked", Key="bad", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    )
    assert err == "BadDigest"


def test_awkward_keys(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="awkward")
    keys = ["..", "../escape", "a/../b", "sp ace", "ünï/日本語", "plus+sign", "q?uery&x=1", "percent%20", "x" * 1024]
    for key in keys:
        s3.put_object(Bucket="awkward", Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket="awkward", Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects(Bucket="awkward")["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    assert code_of(lambda: s3.put_object(Bucket="awkward", Key="y" * 1025, Body=b"")) == "KeyTooLongError"


def test_list_objects_v1_markers_delimiters_and_url_encoding(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="listing")
    keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d e/f", "g+h"]
    for key in keys:
        s3.put_object(Bucket="listing", Key=key, Body=b"1")

    page = s3.list_objects(Bucket="listing", Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/"]
    assert [o["Key"] for o in page["Contents"]] == ["b"]
    assert page["IsTruncated"] is True and page["NextMarker"] == "b"
    rest = s3.list_objects(Bucket="listing", Delimiter="/", Marker=page["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["c/", "d e/"]
    assert [o["Key"] for o in rest["Contents"]] == ["g+h"]
    assert rest["IsTruncated"] is False

    # What `aws cloudtrail validate-logs` sends: encoding-type=url with a marker. botocore
    # decodes only when it chose the encoding itself, so here the raw encoded values show.
    encoded = s3.list_objects(Bucket="listing", Prefix="d e/", EncodingType="url", Marker="a")
    assert [o["Key"] for o in encoded["Contents"]] == ["d%20e/f"]
    assert encoded["Prefix"] == "d%20e/" and encoded["EncodingType"] == "url"
    raw = s3.list_objects(Bucket="listing", EncodingType="url", Delimiter="/")
    assert [o["Key"] for o in raw["Contents"]] == ["b", "g%2Bh"]
    assert [p["Prefix"] for p in raw["CommonPrefixes"]] == ["a/", "c/", "d%20e/"]
    # Without an explicit encoding botocore asks for url encoding and decodes the answer.
    decoded = s3.list_objects(Bucket="listing")
    assert [o["Key"] for o in decoded["Contents"]] == sorted(keys)

    paginator = s3.get_paginator("list_objects")
    collected = [o["Key"] for page in paginator.paginate(Bucket="listing", PaginationConfig={"PageSize": 3}) for o in page["Contents"]]
    assert collected == sorted(keys)
    assert s3.list_objects(Bucket="listing", Prefix="zzz").get("Contents") is None
    assert code_of(lambda: s3.list_objects(Bucket="listing", EncodingType="base64")) == "InvalidArgument"


def test_list_objects_v2_tokens_and_start_after(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="listing-two")
    keys = [f"logs/{n:03d}.json" for n in range(25)] + ["other/x"]
    for key in keys:
        s3.put_object(Bucket="listing-two", Key=key, Body=b"{}")
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="listing-two", Prefix="logs/", PaginationConfig={"PageSize": 7}))
    assert [p["KeyCount"] for p in pages] == [7, 7, 7, 4]
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys[:25]
    after = s3.list_objects_v2(Bucket="listing-two", StartAfter="logs/020.json")
    assert [o["Key"] for o in after["Contents"]] == keys[21:]
    assert after["StartAfter"] == "logs/020.json"
    owned = s3.list_objects_v2(Bucket="listing-two", MaxKeys=1, FetchOwner=True)
    assert "Owner" in owned["Contents"][0]
    assert "Owner" not in s3.list_objects_v2(Bucket="listing-two", MaxKeys=1)["Contents"][0]
    top = s3.list_objects_v2(Bucket="listing-two", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["logs/", "other/"]
    assert top["KeyCount"] == 2
    assert code_of(lambda: s3.list_objects_v2(Bucket="listing-two", ContinuationToken="!!!")) == "InvalidArgument"


def test_delete_objects_and_copy(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="source-bucket")
    s3.create_bucket(Bucket="target-bucket")
    s3.put_object(Bucket="source-bucket", Key="orig", Body=b"payload", Metadata={"k": "v"}, ContentType="text/x")
    copied = s3.copy_object(Bucket="target-bucket", Key="copy", CopySource="source-bucket/orig")
    assert copied["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"payload").hexdigest()
    got = s3.get_object(Bucket="target-bucket", Key="copy")
    assert got["Body"].read() == b"payload" and got["Metadata"] == {"k": "v"} and got["ContentType"] == "text/x"
    replaced = s3.copy_object(
        Bucket="target-bucket", Key="copy2", CopySource={"Bucket": "source-bucket", "Key": "orig"},
        MetadataDirective="REPLACE", Metadata={"n": "1"},
    )
    assert replaced["CopyObjectResult"]["ETag"]
    assert s3.head_object(Bucket="target-bucket", Key="copy2")["Metadata"] == {"n": "1"}
    assert code_of(lambda: s3.copy_object(Bucket="source-bucket", Key="orig", CopySource="source-bucket/orig")) == "InvalidRequest"
    assert code_of(lambda: s3.copy_object(Bucket="target-bucket", Key="x", CopySource="source-bucket/missing")) == "NoSuchKey"

    for n in range(5):
        s3.put_object(Bucket="source-bucket", Key=f"del/{n}", Body=b"x")
    result = s3.delete_objects(
        Bucket="source-bucket",
        Delete={"Objects": [{"Key": f"del/{n}"} for n in range(5)] + [{"Key": "never-existed"}]},
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted([f"del/{n}" for n in range(5)] + ["never-existed"])
    quiet = s3.delete_objects(Bucket="source-bucket", Delete={"Objects": [{"Key": "orig"}], "Quiet": True})
    assert quiet.get("Deleted") is None and quiet.get("Errors") is None
    assert s3.list_objects_v2(Bucket="source-bucket")["KeyCount"] == 0


def test_bucket_policy(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="policy-bucket")
    assert code_of(lambda: s3.get_bucket_policy(Bucket="policy-bucket")) == "NoSuchBucketPolicy"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AWSCloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::policy-bucket/AWSLogs/123456789012/*",
        }],
    }
    s3.put_bucket_policy(Bucket="policy-bucket", Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket="policy-bucket")["Policy"]) == policy
    assert code_of(lambda: s3.put_bucket_policy(Bucket="policy-bucket", Policy="not json")) == "MalformedPolicy"
    s3.delete_bucket_policy(Bucket="policy-bucket")
    assert code_of(lambda: s3.get_bucket_policy(Bucket="policy-bucket")) == "NoSuchBucketPolicy"
    assert code_of(lambda: s3.put_bucket_policy(Bucket="no-such-bucket", Policy=json.dumps(policy))) == "NoSuchBucket"


def test_unimplemented_operations_answer_501(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="plain-bucket")
    err = error_of(lambda: s3.get_bucket_versioning(Bucket="plain-bucket"))
    assert err["Error"]["Code"] == "NotImplemented"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "GetBucketVersioning" in err["Error"]["Message"]
    assert code_of(lambda: s3.put_object_tagging(Bucket="plain-bucket", Key="k", Tagging={"TagSet": []})) == "NotImplemented"


def test_objects_survive_a_restart(new_server, tmp_path):
    first = new_server(tmp_path / "persist").start()
    s3 = first.client("s3")
    s3.create_bucket(Bucket="durable")
    s3.put_object(Bucket="durable", Key="a/b", Body=b"kept", Metadata={"m": "1"})
    first.kill9()
    second = new_server(tmp_path / "persist").start()
    s3 = second.client("s3")
    got = s3.get_object(Bucket="durable", Key="a/b")
    assert got["Body"].read() == b"kept" and got["Metadata"] == {"m": "1"}
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["durable"]


def test_reset_empties_buckets(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="to-reset")
    s3.put_object(Bucket="to-reset", Key="k", Body=b"1")
    server.reset()
    assert s3.list_buckets()["Buckets"] == []
    s3.create_bucket(Bucket="to-reset")
    assert s3.list_objects_v2(Bucket="to-reset")["KeyCount"] == 0


def test_cli_s3api_round_trip(server, tmp_path):
    source = tmp_path / "in.json"
    source.write_text('{"Records":[]}')
    server.aws("s3api", "create-bucket", "--bucket", "api-bucket")
    out = server.aws(
        "s3api", "put-object", "--bucket", "api-bucket", "--key", "AWSLogs/x.json",
        "--body", str(source), "--metadata", "signature=abc",
    )
    assert out["ETag"] == '"%s"' % hashlib.md5(source.read_bytes()).hexdigest()
    head = server.aws("s3api", "head-object", "--bucket", "api-bucket", "--key", "AWSLogs/x.json")
    assert head["Metadata"] == {"signature": "abc"}
    listed = server.aws("s3api", "list-objects-v2", "--bucket", "api-bucket", "--prefix", "AWSLogs/")
    assert [o["Key"] for o in listed["Contents"]] == ["AWSLogs/x.json"]
    target = tmp_path / "out.json"
    server.aws("s3api", "get-object", "--bucket", "api-bucket", "--key", "AWSLogs/x.json", str(target))
    assert target.read_text() == '{"Records":[]}'
    result = run_aws(server, "s3api", "get-object", "--bucket", "api-bucket", "--key", "missing", str(target))
    assert result.returncode != 0 and "NoSuchKey" in result.stderr
