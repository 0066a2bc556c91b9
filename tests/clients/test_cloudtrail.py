"""CloudTrail as a user sees it: the calls made with boto3 (allowed, denied and failed) come back
from LookupEvents with CloudTrail's fields, newest first, filtered and paged; trails are created,
described, started, stopped, tagged and deleted through the trail API."""

import json

import pytest
from botocore.exceptions import ClientError


def error(excinfo):
    return excinfo.value.response["Error"]


def test_calls_appear_in_lookup_events_with_cloudtrails_fields(server):
    iam = server.client("iam")
    iam.create_user(UserName="auditor-probe")
    key = iam.create_access_key(UserName="auditor-probe")["AccessKey"]
    probe = server.client("iam", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError):
        probe.create_user(UserName="not-allowed")
    kms = server.client("kms")
    key_arn = kms.create_key(Description="audited")["KeyMetadata"]["Arn"]
    ct = server.client("cloudtrail")
    events = ct.lookup_events(MaxResults=50)["Events"]
    names = [e["EventName"] for e in events]
    # Newest first: the denied CreateUser comes after the user's creation.
    assert names.index("CreateKey") < names.index("CreateUser")
    denied = ct.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "auditor-probe"}])["Events"]
    assert [e["EventName"] for e in denied] == ["CreateUser"]
    record = json.loads(denied[0]["CloudTrailEvent"])
    assert record["errorCode"] == "AccessDenied"
    assert record["userIdentity"]["type"] == "IAMUser"
    assert record["userIdentity"]["accessKeyId"] == key["AccessKeyId"]
    assert record["eventSource"] == "iam.amazonaws.com"
    assert denied[0]["AccessKeyId"] == key["AccessKeyId"]
    assert denied[0]["ReadOnly"] == "false"
    by_name = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])["Events"]
    assert len(by_name) == 1 and by_name[0]["EventSource"] == "kms.amazonaws.com"
    by_source = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}])["Events"]
    assert {e["EventName"] for e in by_source} == {"CreateKey"}
    # Calls on a resource name it in `resources`, and LookupEvents finds them by it.
    kms.describe_key(KeyId=key_arn)
    on_key = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key_arn}])["Events"]
    assert [e["EventName"] for e in on_key] == ["DescribeKey", "CreateKey"]
    assert on_key[0]["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key_arn}]
    by_type = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceType", "AttributeValue": "AWS::IAM::User"}])["Events"]
    assert "CreateUser" in [e["EventName"] for e in by_type]
    with pytest.raises(ClientError) as e:
        ct.lookup_events(
            LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "CreateKey"},
                {"AttributeKey": "Username", "AttributeValue": "x"},
            ]
        )
    assert error(e)["Code"] == "InvalidLookupAttributesException"


def test_lookup_events_pages_newest_first_without_repeats(server):
    sts = server.client("sts")
    for _ in range(7):
        sts.get_caller_identity()
    ct = server.client("cloudtrail")
    seen = []
    token = None
    while True:
        kwargs = {"MaxResults": 3, "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}]}
        if token:
            kwargs["NextToken"] = token
        page = ct.lookup_events(**kwargs)
        assert len(page["Events"]) <= 3
        seen += [e["EventId"] for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    times = [e["EventTime"] for e in ct.lookup_events(MaxResults=50)["Events"]]
    assert times == sorted(times, reverse=True)


def test_trails_are_created_started_stopped_tagged_and_deleted(server):
    ct = server.client("cloudtrail")
    trail = ct.create_trail(Name="org-audit", S3BucketName="audit-logs", EnableLogFileValidation=True)
    assert trail["TrailARN"] == "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-audit"
    assert trail["LogFileValidationEnabled"] is True
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="org-audit", S3BucketName="audit-logs")
    assert error(e)["Code"] == "TrailAlreadyExistsException"
    assert ct.get_trail_status(Name="org-audit")["IsLogging"] is False
    ct.start_logging(Name="org-audit")
    assert ct.get_trail_status(Name="org-audit")["IsLogging"] is True
    ct.stop_logging(Name=trail["TrailARN"])
    assert ct.get_trail_status(Name="org-audit")["IsLogging"] is False
    ct.add_tags(ResourceId=trail["TrailARN"], TagsList=[{"Key": "team", "Value": "sec"}])
    tags = ct.list_tags(ResourceIdList=[trail["TrailARN"]])["ResourceTagList"][0]["TagsList"]
    assert tags == [{"Key": "team", "Value": "sec"}]
    ct.put_event_selectors(TrailName="org-audit", EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
    assert ct.get_event_selectors(TrailName="org-audit")["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == ["org-audit"]
    assert [t["Name"] for t in ct.list_trails()["Trails"]] == ["org-audit"]
    ct.delete_trail(Name="org-audit")
    with pytest.raises(ClientError) as e:
        ct.get_trail(Name="org-audit")
    assert error(e)["Code"] == "TrailNotFoundException"


def test_a_trails_insights_read_as_not_enabled_and_cannot_be_turned_on(server):
    # Bug: GetInsightSelectors answered NotImplemented, so readers of a trail that ask for its
    # Insights as part of reading it (Terraform's aws_cloudtrail, Prowler) failed on every trail.
    ct = server.client("cloudtrail")
    arn = ct.create_trail(Name="insightful", S3BucketName="audit-logs")["TrailARN"]
    with pytest.raises(ClientError) as e:
        ct.get_insight_selectors(TrailName="insightful")
    assert error(e)["Code"] == "InsightNotEnabledException"
    assert arn in error(e)["Message"]
    off = ct.put_insight_selectors(TrailName=arn, InsightSelectors=[])
    assert off["TrailARN"] == arn and off["InsightSelectors"] == []
    with pytest.raises(ClientError) as e:
        ct.put_insight_selectors(TrailName="insightful", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    assert error(e)["Code"] == "UnsupportedOperationException"
    assert ct.describe_trails()["trailList"][0]["HasInsightSelectors"] is False
    with pytest.raises(ClientError) as e:
        ct.get_insight_selectors(TrailName="missing")
    assert error(e)["Code"] == "TrailNotFoundException"


def test_palisade_audit_events_prints_the_data_dirs_events_beside_a_running_server(server):
    """Operators read the local audit log offline: `palisade audit events` prints one CloudTrail
    record per line, oldest first, without disturbing the server that is appending to it."""
    import subprocess

    from conftest import binary

    kms = server.client("kms")
    kms.create_key(Description="listed")
    with pytest.raises(ClientError):
        kms.describe_key(KeyId="alias/missing")

    def run(*extra):
        out = subprocess.run(
            [binary(), "audit", "events", "--data-dir", str(server.data_dir), *extra],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        return [json.loads(line) for line in out.splitlines()]

    records = run()
    assert [r["eventName"] for r in records][-2:] == ["CreateKey", "DescribeKey"]
    assert records[-1]["errorCode"] == "NotFoundException"
    assert records == server.events()
    assert run("--account", "999999999999") == []
    assert len(run("--from", str(len(records)))) == 1
    # The server goes on serving and recording.
    server.client("sts").get_caller_identity()
    assert run()[-1]["eventName"] == "GetCallerIdentity"
    # Regression: the records came without their positions, so --from could not resume.
    positioned = run("--positions")
    assert [p["record"] for p in positioned] == run()
    last = positioned[-1]["position"]
    assert run("--from", str(last)) == [positioned[-1]["record"]]
    assert run("--from", str(last + 1)) == []


def test_palisade_audit_events_refuses_bad_flags_and_reports_a_damaged_segment(tmp_path):
    # Regressions: --account abc and --from=-5 were taken silently (listing nothing), and a
    # segment of random bytes printed nothing and exited 0.
    import random
    import subprocess

    from conftest import binary

    def run(*args):
        return subprocess.run([binary(), "audit", "events", "--data-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=60)

    (tmp_path / "events").mkdir()
    for args, says in ((("--account", "abc"), "12 digits"), (("--from=-5",), "-5")):
        r = run(*args)
        assert r.returncode == 2 and says in r.stderr, r.stderr
    (tmp_path / "events" / f"{1:020}.log").write_bytes(random.Random(7).randbytes(100_000))
    r = run()
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == "" and "(position 1) is damaged" in r.stderr, r.stderr


def test_trail_settings_cloudtrail_refuses(server):
    # Bugs found by a user-journey review: these were all accepted and stored.
    ct = server.client("cloudtrail")
    cases = [
        ({"Name": "10.0.0.1"}, "InvalidTrailNameException"),
        ({"Name": "x--y"}, "InvalidTrailNameException"),
        ({"Name": "trail1", "TagsList": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "TagsLimitExceededException"),
        ({"Name": "trail2", "KmsKeyId": "alias/nonexistent"}, "KmsKeyNotFoundException"),
        ({"Name": "trail3", "IsOrganizationTrail": True}, "OrganizationsNotInUseException"),
        ({"Name": "trail4", "CloudWatchLogsLogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:g:*"}, "InvalidCloudWatchLogsRoleArnException"),
    ]
    for args, expected in cases:
        with pytest.raises(ClientError) as e:
            ct.create_trail(S3BucketName="bucket", **args)
        assert error(e)["Code"] == expected, args
    assert ct.describe_trails()["trailList"] == []

    # A key whose policy does not let CloudTrail use it is refused (bug: accepted, so the trail
    # looked KMS-protected); with AWS's documented statement for CloudTrail it is accepted.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as e:
        ct.create_trail(Name="good", S3BucketName="bucket", KmsKeyId=key, IsMultiRegionTrail=True)
    assert error(e)["Code"] == "InsufficientEncryptionPolicyException"
    assert ct.describe_trails()["trailList"] == []
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    policy["Statement"].append(
        {
            "Sid": "Allow CloudTrail to encrypt logs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/good"},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:123456789012:trail/*"},
            },
        }
    )
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    kms.create_alias(AliasName="alias/trails", TargetKeyId=key)
    made = ct.create_trail(Name="good", S3BucketName="bucket", KmsKeyId="alias/trails", IsMultiRegionTrail=True)
    # The trail names the key by its full ARN, whatever named it (bug: the alias was echoed).
    assert made["KmsKeyId"] == key and ct.get_trail(Name="good")["Trail"]["KmsKeyId"] == key
    # A multi-Region trail is deleted only in its home Region.
    with pytest.raises(ClientError) as e:
        server.client("cloudtrail", region="us-west-2").delete_trail(Name="good")
    assert error(e)["Code"] == "InvalidHomeRegionException"
    assert ct.get_trail(Name="good")["Trail"]["Name"] == "good"

    for tags in ([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], [{"Key": "aws:x", "Value": "v"}]):
        with pytest.raises(ClientError) as e:
            ct.add_tags(ResourceId=ct.get_trail(Name="good")["Trail"]["TrailARN"], TagsList=tags)
        assert error(e)["Code"] == "InvalidTagParameterException"

    bad_selectors = [
        {"EventSelectors": [{"ReadWriteType": "All"}] * 6},
        {"EventSelectors": [{"DataResources": [{"Type": "AWS::Bogus::Thing", "Values": ["x"]}]}]},
        {"EventSelectors": [{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["notanarn"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventName", "Equals": ["GetObject"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Bogus"]}]}]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "bogus", "Equals": ["x"]}]}]},
    ]
    for selectors in bad_selectors:
        with pytest.raises(ClientError) as e:
            ct.put_event_selectors(TrailName="good", **selectors)
        assert error(e)["Code"] == "InvalidEventSelectorsException", selectors
    ct.put_event_selectors(
        TrailName="good",
        AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}],
    )
    # Basic selectors come back with every member, defaults filled in.
    ct.put_event_selectors(TrailName="good", EventSelectors=[{"ReadWriteType": "WriteOnly"}])
    assert ct.get_event_selectors(TrailName="good")["EventSelectors"] == [
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": [], "ExcludeManagementEventSources": []}
    ]
    # GetTrailStatus has CloudTrail's string members too.
    ct.start_logging(Name="good")
    status = ct.get_trail_status(Name="good")
    assert status["TimeLoggingStarted"].endswith("Z") and status["TimeLoggingStopped"] == ""


def test_lookup_events_tokens_resume_only_their_own_query(server):
    # Bug: a token of one query was taken by another and paged through other events; and
    # ReadOnly=maybe was read as false.
    sm = server.client("secretsmanager")
    for n in range(3):
        sm.create_secret(Name=f"s{n}", SecretString="v")
    ct = server.client("cloudtrail")
    by_name = [{"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}]
    first = ct.lookup_events(LookupAttributes=by_name, MaxResults=1)
    second = ct.lookup_events(LookupAttributes=by_name, MaxResults=1, NextToken=first["NextToken"])
    assert second["Events"][0]["EventId"] != first["Events"][0]["EventId"]
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=1, NextToken=first["NextToken"])
    assert error(e)["Code"] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}])
    assert error(e)["Code"] == "InvalidLookupAttributesException"


def test_kms_crypto_calls_are_recorded_as_kms_records_them(server):
    # Regression: GenerateDataKey was recorded as a write, with its response (the key id and a
    # hidden plaintext) in responseElements; Decrypt's record lacked the encryption algorithm
    # and Encrypt's named a hidden plaintext. KMS's own records leave the plaintext out, always
    # name the algorithm and mark the cryptographic operations read-only.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    ct = server.client("cloudtrail")
    records = {
        json.loads(e["CloudTrailEvent"])["eventName"]: json.loads(e["CloudTrailEvent"])
        for e in ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}])["Events"]
    }
    assert records["GenerateDataKey"]["readOnly"] is True
    assert records["GenerateDataKey"].get("responseElements") is None
    assert records["Decrypt"]["requestParameters"]["encryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "plaintext" not in records["Encrypt"]["requestParameters"]
    assert records["Encrypt"]["requestParameters"]["encryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert records["CreateKey"]["readOnly"] is False


def test_dates_in_response_elements_are_written_as_cloudtrail_writes_them(server):
    # Regression: CreateUser's createDate and CreateKey's creationDate were epoch numbers in
    # responseElements; CloudTrail writes "Dec 3, 2026, 12:37:05 PM".
    import re

    server.client("iam").create_user(UserName="dated")
    server.client("kms").create_key()
    ct = server.client("cloudtrail")
    def record(name):
        [e] = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
        return json.loads(e["CloudTrailEvent"])["responseElements"]
    date = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} [AP]M$")
    assert date.match(record("CreateUser")["user"]["createDate"])
    assert date.match(record("CreateKey")["keyMetadata"]["creationDate"])


def test_a_region_lists_its_public_key_before_any_digest(server):
    # Regression: ListPublicKeys was empty until the first digest was signed; CloudTrail always
    # has a key per Region.
    ct = server.client("cloudtrail", region="eu-west-1")
    [key] = ct.list_public_keys()["PublicKeyList"]
    assert len(key["Fingerprint"]) == 32 and key["Value"]
    assert ct.list_public_keys()["PublicKeyList"] == [key]


def test_list_public_keys_keeps_to_the_time_window(server):
    # Regression: StartTime was ignored (a window after a key's validity still listed it) and a
    # window ending before it began was not refused.
    import datetime

    ct = server.client("cloudtrail")
    [key] = ct.list_public_keys()["PublicKeyList"]
    after = key["ValidityEndTime"] + datetime.timedelta(days=1)
    assert ct.list_public_keys(StartTime=after, EndTime=after + datetime.timedelta(days=1))["PublicKeyList"] == []
    assert ct.list_public_keys(StartTime=key["ValidityStartTime"])["PublicKeyList"] == [key]
    with pytest.raises(ClientError) as e:
        ct.list_public_keys(StartTime=after, EndTime=key["ValidityStartTime"])
    assert error(e)["Code"] == "InvalidTimeRangeException"


def test_names_find_this_regions_trails_and_arns_any_regions(server):
    # Regression: DescribeTrails and GetTrailStatus found a shadow trail by its name (AWS wants
    # its ARN), and DescribeTrails could not find another Region's trail by its ARN.
    server.client("cloudtrail", region="eu-west-1").create_trail(Name="home-eu", S3BucketName="audit-bucket")
    server.client("cloudtrail", region="eu-west-1").create_trail(
        Name="global", S3BucketName="audit-bucket", IsMultiRegionTrail=True
    )
    ct = server.client("cloudtrail")
    eu = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/home-eu"
    shadow = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/global"
    assert ct.describe_trails(trailNameList=["home-eu", "global"])["trailList"] == []
    found = ct.describe_trails(trailNameList=[eu, shadow])["trailList"]
    assert sorted(t["TrailARN"] for t in found) == [shadow, eu]
    assert [t["Name"] for t in ct.describe_trails()["trailList"]] == ["global"]
    with pytest.raises(ClientError) as e:
        ct.get_trail_status(Name="global")
    assert error(e)["Code"] == "TrailNotFoundException"
    assert ct.get_trail_status(Name=shadow)["IsLogging"] is False


def test_names_and_arns_no_trail_can_have_and_tokens_of_another_region_are_refused(server):
    # Regression: a name no trail can have, and an ARN that is no trail's, were answered
    # TrailNotFoundException; a LookupEvents NextToken of one Region was taken in another.
    ct = server.client("cloudtrail")
    for call in (ct.get_trail, ct.delete_trail, ct.get_trail_status):
        with pytest.raises(ClientError) as e:
            call(Name="a b")
        assert error(e)["Code"] == "InvalidTrailNameException"
    with pytest.raises(ClientError) as e:
        ct.get_trail_status(Name="arn:aws:kms:us-east-1:123456789012:key/abc")
    assert error(e)["Code"] == "CloudTrailARNInvalidException"
    sts = server.client("sts", region="eu-west-1")
    for _ in range(3):
        sts.get_caller_identity()
    token = server.client("cloudtrail", region="eu-west-1").lookup_events(MaxResults=1)["NextToken"]
    with pytest.raises(ClientError) as e:
        ct.lookup_events(MaxResults=1, NextToken=token)
    assert error(e)["Code"] == "InvalidNextTokenException"


def test_iam_policies_that_name_a_trail_decide_calls_on_it(server):
    # Regression: every CloudTrail action was authorized on "*", so a Deny of StopLogging on
    # the security trail did not bind, and an Allow on one trail did not allow anything.
    ct = server.client("cloudtrail")
    ct.create_trail(Name="main", S3BucketName="audit-bucket")
    ct.create_trail(Name="plain", S3BucketName="audit-bucket")
    main = "arn:aws:cloudtrail:us-east-1:123456789012:trail/main"
    plain = "arn:aws:cloudtrail:us-east-1:123456789012:trail/plain"
    ops = server.user_client(
        "ops",
        "cloudtrail",
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"], "Resource": main},
        ]}),
    )
    ct.start_logging(Name="main")
    with pytest.raises(ClientError) as e:
        ops.stop_logging(Name="main")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"cloudtrail:StopLogging on resource: {main} with an explicit deny" in e.value.response["Error"]["Message"]
    assert ct.get_trail_status(Name="main")["IsLogging"] is True
    ops.stop_logging(Name=plain)
    narrow = server.user_client(
        "narrow",
        "cloudtrail",
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudtrail:GetTrailStatus", "cloudtrail:StartLogging"], "Resource": plain},
        ]}),
    )
    narrow.start_logging(Name="plain")
    assert narrow.get_trail_status(Name="plain")["IsLogging"] is True
    with pytest.raises(ClientError) as e:
        narrow.get_trail_status(Name="main")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # The event names the trail, so a lookup by its ARN finds the call.
    found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": plain}])["Events"]
    assert {"StopLogging", "StartLogging"} <= {e["EventName"] for e in found}


def test_list_tags_is_decided_on_each_trail_it_lists(server):
    # Regression: ListTags was authorized on "*", so a Deny on a trail's ARN (or on its tags)
    # did not keep its tags from being listed.
    ct = server.client("cloudtrail")
    ct.create_trail(Name="open", S3BucketName="audit-bucket", TagsList=[{"Key": "team", "Value": "a"}])
    ct.create_trail(Name="secret", S3BucketName="audit-bucket", TagsList=[{"Key": "class", "Value": "restricted"}])
    open_arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/open"
    secret = "arn:aws:cloudtrail:us-east-1:123456789012:trail/secret"
    reader = server.user_client(
        "tag-reader",
        "cloudtrail",
        json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudtrail:ListTags", "Resource": "*"},
            {"Effect": "Deny", "Action": "cloudtrail:ListTags", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/class": "restricted"}}},
        ]}),
    )
    assert reader.list_tags(ResourceIdList=[open_arn])["ResourceTagList"][0]["ResourceId"] == open_arn
    for ids in ([secret], [open_arn, secret]):
        with pytest.raises(ClientError) as e:
            reader.list_tags(ResourceIdList=ids)
        assert error(e)["Code"] == "AccessDeniedException"
        assert f"cloudtrail:ListTags on resource: {secret}" in error(e)["Message"]


def test_list_tags_takes_at_most_twenty_arns(server):
    # Regression: ListTags answered any number of ARNs, where the API reference limits the list
    # to 20.
    ct = server.client("cloudtrail")
    ct.create_trail(Name="tagged", S3BucketName="audit-bucket", TagsList=[{"Key": "team", "Value": "a"}])
    arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/tagged"
    assert len(ct.list_tags(ResourceIdList=[arn] * 20)["ResourceTagList"]) == 20
    with pytest.raises(ClientError) as e:
        ct.list_tags(ResourceIdList=[arn] * 21)
    assert error(e)["Code"] == "InvalidParameterException"
    assert "21" in error(e)["Message"] and "20" in error(e)["Message"]


def test_a_region_holds_five_trails_shadows_included(server):
    # Regression: CloudTrail's quota of 5 trails per Region (shadows of multi-Region trails
    # counted) was not enforced.
    east = server.client("cloudtrail")
    west = server.client("cloudtrail", region="us-west-2")
    west.create_trail(Name="everywhere", S3BucketName="audit-bucket", IsMultiRegionTrail=True)
    for n in range(4):
        east.create_trail(Name=f"east-{n}", S3BucketName="audit-bucket")
    with pytest.raises(ClientError) as e:
        east.create_trail(Name="east-4", S3BucketName="audit-bucket")
    assert error(e)["Code"] == "MaximumNumberOfTrailsExceededException"
    assert error(e)["Message"] == "User: 123456789012 already has 5 trails in us-east-1."
    # A multi-Region trail needs room in every Region, even where it is made.
    west.create_trail(Name="west-only", S3BucketName="audit-bucket")
    with pytest.raises(ClientError) as e:
        west.update_trail(Name="west-only", IsMultiRegionTrail=True)
    assert error(e)["Code"] == "MaximumNumberOfTrailsExceededException"
    east.delete_trail(Name="east-3")
    west.update_trail(Name="west-only", IsMultiRegionTrail=True)


def test_a_trail_made_multi_region_cannot_shadow_another_of_its_name(server):
    # Regression: UpdateTrail IsMultiRegionTrail=True over a same-named trail of another Region
    # succeeded, leaving two trails of one name in that Region (CreateTrail refuses it).
    server.client("cloudtrail", region="eu-west-1").create_trail(Name="audit", S3BucketName="audit-bucket")
    east = server.client("cloudtrail")
    east.create_trail(Name="audit", S3BucketName="audit-bucket")
    with pytest.raises(ClientError) as e:
        east.update_trail(Name="audit", IsMultiRegionTrail=True)
    assert error(e)["Code"] == "TrailAlreadyExistsException"
    # Nor can a new multi-Region trail, made in a third Region.
    with pytest.raises(ClientError) as e:
        server.client("cloudtrail", region="us-west-2").create_trail(
            Name="audit", S3BucketName="audit-bucket", IsMultiRegionTrail=True
        )
    assert error(e)["Code"] == "TrailAlreadyExistsException"
    assert [t["Name"] for t in server.client("cloudtrail", region="eu-west-1").describe_trails()["trailList"]] == ["audit"]


def test_put_event_selectors_needs_one_to_five_selectors_within_the_quotas(server):
    # Regression: a call with neither kind of selector reset the trail to the default, an
    # empty list was kept (and the trail delivered nothing), and the 250 data-resource and 500
    # condition-value quotas were not enforced.
    ct = server.client("cloudtrail")
    ct.create_trail(Name="sel", S3BucketName="audit-bucket")
    ct.put_event_selectors(TrailName="sel", EventSelectors=[{"ReadWriteType": "ReadOnly"}])
    management = {"Field": "eventCategory", "Equals": ["Management"]}
    for selectors in [
        {},
        {"EventSelectors": []},
        {"EventSelectors": [{"ReadWriteType": "All"}] * 6},
        {"AdvancedEventSelectors": []},
        {"EventSelectors": [{}], "AdvancedEventSelectors": [{"FieldSelectors": [management]}]},
        {"EventSelectors": [
            {"DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::b{n}/" for n in range(130)]}]},
            {"DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::c{n}/" for n in range(130)]}]},
        ]},
        {"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": [f"arn:aws:s3:::b{n}/" for n in range(499)]},
        ]}]},
    ]:
        with pytest.raises(ClientError) as e:
            ct.put_event_selectors(TrailName="sel", **selectors)
        assert error(e)["Code"] == "InvalidEventSelectorsException", selectors
    assert ct.get_event_selectors(TrailName="sel")["EventSelectors"][0]["ReadWriteType"] == "ReadOnly"


def records_named(server, name, region="us-east-1"):
    ct = server.client("cloudtrail", region=region)
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])["Events"]
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def test_iam_calls_are_recorded_in_us_east_1_whatever_region_signed_them(server):
    # Regression: an IAM call signed for another Region was filed in
    # that Region, out of sight of the us-east-1 event history and of home-Region trails.
    server.client("iam", region="ap-southeast-4").create_user(UserName="hidden-admin")
    server.client("iam", region="eu-west-1").list_users()
    [created] = records_named(server, "CreateUser")
    assert created["awsRegion"] == "us-east-1"
    assert created["requestParameters"] == {"userName": "hidden-admin"}
    [listed] = records_named(server, "ListUsers")
    assert listed["awsRegion"] == "us-east-1"
    assert records_named(server, "CreateUser", region="ap-southeast-4") == []


def test_records_of_issued_credentials_name_the_key_without_its_secret(server):
    # Regression: GetFederationToken and GetSessionToken were recorded with
    # `responseElements: null` (an issued ASIA key could not be traced to its issuance) and
    # GetFederationToken as read-only; AssumeRole's and CreateAccessKey's records carried a
    # `secretAccessKey` placeholder that CloudTrail's do not have.
    sts = server.client("sts")
    fed = sts.get_federation_token(
        Name="fed1",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
    )["Credentials"]
    iam = server.client("iam")
    iam.create_user(UserName="issuer")
    key = iam.create_access_key(UserName="issuer")["AccessKey"]
    session = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_session_token(DurationSeconds=900)["Credentials"]
    [fed_record] = records_named(server, "GetFederationToken")
    assert fed_record["readOnly"] is False
    assert fed_record["responseElements"]["credentials"]["accessKeyId"] == fed["AccessKeyId"]
    assert fed_record["responseElements"]["federatedUser"]["arn"].endswith(":federated-user/fed1")
    [session_record] = records_named(server, "GetSessionToken")
    assert session_record["responseElements"]["credentials"]["accessKeyId"] == session["AccessKeyId"]
    [create_key] = records_named(server, "CreateAccessKey")
    assert create_key["responseElements"]["accessKey"]["accessKeyId"] == key["AccessKeyId"]
    for record in (fed_record, session_record, create_key):
        text = json.dumps(record)
        assert "secretAccessKey" not in text
        assert fed["SecretAccessKey"] not in text and session["SecretAccessKey"] not in text
        assert key["SecretAccessKey"] not in text
    # A call without input records `requestParameters: null`, as CloudTrail does.
    sts.get_caller_identity()
    [who] = records_named(server, "GetCallerIdentity")
    assert who["requestParameters"] is None


def test_reencrypt_record_names_the_source_key_first_and_both_algorithms(server):
    # Regression: ReEncrypt's `resources` listed the destination key before the source key and
    # its parameters left out the algorithms (KMS developer guide, ReEncrypt's record).
    kms = server.client("kms")
    source = kms.create_key()["KeyMetadata"]["Arn"]
    destination = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=source, Plaintext=b"x", EncryptionContext={"Project": "Alpha"})["CiphertextBlob"]
    kms.re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"Project": "Alpha"},
        DestinationKeyId=destination,
        DestinationEncryptionContext={"Level": "3A"},
    )
    [record] = records_named(server, "ReEncrypt")
    assert [r["ARN"] for r in record["resources"]] == [source, destination]
    params = record["requestParameters"]
    assert params["sourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert params["destinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert params["destinationEncryptionContext"] == {"Level": "3A"}


# Record fidelity against AWS's documented records (review of 2026-12-04): detections written
# against real CloudTrail records match on these fields.


def test_failed_iam_calls_record_the_error_shape_name_as_cloudtrail_does(server):
    # Regression: records carried the wire code (`NoSuchEntity`); CloudTrail records IAM's
    # `NoSuchEntityException`, and rules matching it never fired.
    iam = server.client("iam")
    iam.create_user(UserName="dup")
    for call, kwargs in [
        (iam.get_role, {"RoleName": "nosuch"}),
        (iam.create_user, {"UserName": "dup"}),
    ]:
        with pytest.raises(ClientError):
            call(**kwargs)
    failed = {e["eventName"]: e["errorCode"] for e in server.events() if e.get("errorCode")}
    assert failed == {"GetRole": "NoSuchEntityException", "CreateUser": "EntityAlreadyExistsException"}


def test_kms_cryptographic_records_name_the_key_material_used(server):
    # Regression: no additionalEventData.keyMaterialId, which KMS's Encrypt, Decrypt and
    # GenerateDataKey records carry; Encrypt's response itself still has no KeyMaterialId.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    material = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    out = kms.encrypt(KeyId=key, Plaintext=b"x")
    assert "KeyMaterialId" not in out
    kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
    kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    recorded = {
        e["eventName"]: e.get("additionalEventData")
        for e in server.events()
        if e["eventName"] in ("Encrypt", "Decrypt", "GenerateDataKey")
    }
    assert recorded == {name: {"keyMaterialId": material} for name in ("Encrypt", "Decrypt", "GenerateDataKey")}


def test_reencrypt_records_name_the_source_and_destination_key_material(server):
    # Regression: ReEncrypt's record had no additionalEventData; KMS's names both materials
    # (KMS developer guide, "ReEncrypt").
    kms = server.client("kms")
    source, destination = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    material = {k: kms.describe_key(KeyId=k)["KeyMetadata"]["CurrentKeyMaterialId"] for k in (source, destination)}
    blob = kms.encrypt(KeyId=source, Plaintext=b"x")["CiphertextBlob"]
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=destination)
    [record] = [e for e in server.events() if e["eventName"] == "ReEncrypt"]
    assert record["additionalEventData"] == {
        "sourceKeyMaterialId": material[source],
        "destinationKeyMaterialId": material[destination],
    }


def test_ml_kem_records_are_read_only_and_leave_out_the_encapsulated_secret(server):
    # Regression: Encapsulate and Decapsulate were recorded as writes, with the encapsulated
    # secret in responseElements and requestParameters; KMS's record omits it.
    kms = server.client("kms")
    key = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    out = kms.encapsulate(KeyId=key, EncapsulationAlgorithm="ML_KEM")
    kms.decapsulate(KeyId=key, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"])
    for e in server.events():
        if e["eventName"] in ("Encapsulate", "Decapsulate"):
            assert e["readOnly"] is True and e["responseElements"] is None
            assert "sharedSecretCiphertextBlob" not in e["requestParameters"]


def test_a_failure_without_a_message_records_no_error_message(server):
    # Regression: `"errorMessage": ""`; CloudTrail's record of such a failure has no member.
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "c"})
    failed = [e for e in server.events() if e["eventName"] == "Decrypt"]
    assert failed[-1]["errorCode"] == "InvalidCiphertextException" and "errorMessage" not in failed[-1]


def short_targets(client, prefix):
    """Makes `client` send `X-Amz-Target` with `prefix` in place of botocore's, as the SDKs
    generated from CloudTrail's Smithy model do, before the request is signed."""

    def rewrite(request, **_):
        operation = request.headers["X-Amz-Target"].rsplit(".", 1)[1]
        del request.headers["X-Amz-Target"]
        request.headers["X-Amz-Target"] = f"{prefix}.{operation}"

    client.meta.events.register("before-sign.cloudtrail.*", rewrite)
    return client


def test_the_smithy_sdks_short_target_prefix_is_served(server):
    # Regression: the JavaScript SDK v3 (and Go v2, Rust, Kotlin, Swift) send
    # `X-Amz-Target: CloudTrail_20131101.LookupEvents`, the Smithy service shape's name, where
    # botocore sends `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`; AWS
    # takes both, and every such call got UnknownOperationException, audited as `Unknown`.
    server.client("kms").create_key(Description="seen by a smithy sdk")
    ct = short_targets(server.client("cloudtrail"), "CloudTrail_20131101")
    events = ct.lookup_events(MaxResults=5)["Events"]
    assert "CreateKey" in [e["EventName"] for e in events]
    assert ct.describe_trails()["trailList"] == []
    recorded = [(e["eventSource"], e["eventName"], e.get("errorCode")) for e in server.events()]
    assert ("cloudtrail.amazonaws.com", "LookupEvents", None) in recorded
    assert ("cloudtrail.amazonaws.com", "DescribeTrails", None) in recorded
    assert not [r for r in recorded if r[1] == "Unknown"], recorded
    # Only the last component of botocore's prefix is the other spelling; nothing looser.
    for prefix in ("v20131101.CloudTrail_20131101", "cloudtrail_20131101", "CloudTrail"):
        loose = short_targets(server.client("cloudtrail"), prefix)
        with pytest.raises(ClientError) as e:
            loose.lookup_events(MaxResults=1)
        assert error(e)["Code"] == "UnknownOperationException", prefix


def test_request_parameters_over_cloudtrails_field_limit_are_omitted(server):
    # CloudTrail omits a requestParameters over 100 KiB; a smaller one is kept whole.
    iam = server.client("iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * 5000}]})
    iam.simulate_custom_policy(PolicyInputList=[doc] * 30, ActionNames=["s3:GetObject"])
    iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["s3:GetObject"])
    recorded = [e["requestParameters"] for e in server.events() if e["eventName"] == "SimulateCustomPolicy"]
    assert recorded[0] is None and recorded[1]["policyInputList"] == [doc]


def test_events_of_requests_without_valid_credentials_are_sampled(server):
    # Regression: every request with an unknown key was recorded, so one client without
    # credentials made the server keep 1.4 KB of disk and 180 bytes of memory per request.
    sts = server.client("sts", key="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    for _ in range(100):
        with pytest.raises(ClientError) as e:
            sts.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    server.client("sts").get_caller_identity()
    events = server.events()
    refused = [e for e in events if e.get("errorCode") == "InvalidClientTokenId"]
    # 60 at once, then one a second while the 100 calls take their time.
    assert 60 <= len(refused) < 80, len(refused)
    # Authenticated calls are all recorded.
    assert [e["eventName"] for e in events if not e.get("errorCode")] == ["GetCallerIdentity"]


def test_wrong_signatures_with_a_real_key_are_recorded_despite_a_flood_of_made_up_keys(server):
    # Regression: requests with made-up keys used up the sampling room of every refused
    # request from their address, so that someone trying a real key with a wrong secret
    # went unrecorded.
    flood = server.client("sts", key="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    for _ in range(80):
        with pytest.raises(ClientError):
            flood.get_caller_identity()
    key, _ = server.credentials()
    guess = server.client("sts", key=key, secret="not-the-secret-of-this-key-000000000000")
    for _ in range(10):
        with pytest.raises(ClientError) as e:
            guess.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    wrong = [e for e in server.events() if e.get("errorCode") == "SignatureDoesNotMatch"]
    assert len(wrong) == 10
    assert all(e["userIdentity"].get("accessKeyId") == key for e in wrong), wrong[0]["userIdentity"]
    # A deactivated key being tried is a key that exists too.
    iam = server.client("iam")
    iam.create_user(UserName="left")
    old = iam.create_access_key(UserName="left")["AccessKey"]
    iam.update_access_key(UserName="left", AccessKeyId=old["AccessKeyId"], Status="Inactive")
    leaked = server.client("sts", key=old["AccessKeyId"], secret=old["SecretAccessKey"])
    for _ in range(5):
        with pytest.raises(ClientError):
            leaked.get_caller_identity()
    tried = [e for e in server.events() if e["userIdentity"].get("accessKeyId") == old["AccessKeyId"]]
    assert len(tried) == 5, tried


def test_minted_sessions_cannot_hide_wrong_signatures_with_another_principals_key(server):
    # Regression: every existing key shared one sampling budget, and anyone with credentials
    # can mint session keys: 600 wrong signatures made with their own sessions hid the next
    # wrong signatures made with another user's real key.
    iam = server.client("iam")
    iam.create_user(UserName="minter")
    k = iam.create_access_key(UserName="minter")["AccessKey"]
    sts = server.client("sts", key=k["AccessKeyId"], secret=k["SecretAccessKey"])
    sessions = [sts.get_session_token()["Credentials"] for _ in range(61)]
    for c in sessions:
        bad = server.client("sts", key=c["AccessKeyId"], secret="wrong-secret-0000000000000000000000000", aws_session_token=c["SessionToken"])
        for _ in range(20):
            with pytest.raises(ClientError):
                bad.get_caller_identity()
    key, _ = server.credentials()
    guess = server.client("sts", key=key, secret="not-the-secret-of-this-key-000000000000")
    for _ in range(5):
        with pytest.raises(ClientError):
            guess.get_caller_identity()
    recorded = [e for e in server.events() if e.get("errorCode") == "SignatureDoesNotMatch" and e["userIdentity"].get("accessKeyId") == key]
    assert len(recorded) == 5
