#!/usr/bin/env python3
"""Writes tests/corpus/*.json (the decision corpus). Edit the cases here and run:
    python3 crates/policy/scripts/gen_corpus.py
"""
import json, os
OUT=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'corpus')
A='111111111111'; B='222222222222'
ALICE=f'arn:aws:iam::{A}:user/alice'
SESS=f'arn:aws:sts::{A}:assumed-role/App/s1'
ROLE=f'arn:aws:iam::{A}:role/App'
def pol(*stmts, version="2012-10-17"):
    d={"Statement":list(stmts)}
    if version: d={"Version":version, **d}
    return d
def st(effect="Allow", action="s3:GetObject", resource="*", **kw):
    s={"Effect":effect,"Action":action}
    if resource is not None: s["Resource"]=resource
    for k,v in kw.items():
        s[{"cond":"Condition","principal":"Principal","notaction":"NotAction","notresource":"NotResource","notprincipal":"NotPrincipal","sid":"Sid"}[k]]=v
    if "NotAction" in s: s.pop("Action", None)
    if "NotResource" in s: s.pop("Resource", None)
    return s
def case(name, expect, blocked=None, principal=ALICE, action="s3:GetObject", resource="arn:aws:s3:::bucket/key", context=None, note=None, req=None, **kw):
    r={"principal":principal,"action":action,"resource":resource}
    if context: r["context"]=context
    if req: r.update(req)
    c={"name":name}
    if note: c["description"]=note
    c["request"]=r
    for k,v in kw.items():
        c[{"identity":"identityPolicies","resource_policy":"resourcePolicy","pb":"permissionsBoundaries","session":"sessionPolicy","scp":"serviceControlPolicies","rcp":"resourceControlPolicies","vpce":"endpointPolicies","rtype":"resourcePolicyType"}[k]]=v
    e={"decision":expect}
    if blocked is not None: e["blockedBy"]=blocked
    c["expect"]=e
    return c
ALLOW_ALL=pol(st(action="*",resource="*"))
files={}

files['matching']=[
 case("exact action and resource allow","Allowed",[],identity=[pol(st(resource="arn:aws:s3:::bucket/key"))]),
 case("no policy is an implicit deny","ImplicitlyDenied",["identity"]),
 case("explicit deny wins over allow","ExplicitlyDenied",["identity"],identity=[ALLOW_ALL,pol(st("Deny",resource="arn:aws:s3:::bucket/*"))]),
 case("action prefix and name are case-insensitive","Allowed",[],identity=[pol(st(action="S3:getOBJECT"))]),
 case("action wildcard in the middle","Allowed",[],action="iam:CreateAccessKey",resource=f"arn:aws:iam::{A}:user/alice",identity=[pol(st(action="iam:*AccessKey*"))]),
 case("action wildcard does not match other actions","ImplicitlyDenied",["identity"],action="iam:GetUser",resource=f"arn:aws:iam::{A}:user/alice",identity=[pol(st(action="iam:*AccessKey*"))]),
 case("question mark matches exactly one character","Allowed",[],action="s3:GetObject",identity=[pol(st(action="s3:G?tObject"))]),
 case("NotAction allow covers other actions of the resource scope","Allowed",[],identity=[pol(st(notaction="s3:DeleteBucket",resource="arn:aws:s3:::*"))]),
 case("NotAction allow excludes the listed action","ImplicitlyDenied",["identity"],action="s3:DeleteBucket",resource="arn:aws:s3:::bucket",identity=[pol(st(notaction="s3:DeleteBucket",resource="arn:aws:s3:::*"))]),
 case("NotAction allow scoped by Resource does not cover other services","ImplicitlyDenied",["identity"],action="iam:GetUser",resource=f"arn:aws:iam::{A}:user/bob",identity=[pol(st(notaction="s3:DeleteBucket",resource="arn:aws:s3:::*"))]),
 case("wildcard-only action needs Resource star (arn:aws:s3:::* is not enough)","ImplicitlyDenied",["identity"],action="s3:ListAllMyBuckets",resource="*",identity=[pol(st(action="s3:ListAllMyBuckets",resource="arn:aws:s3:::*"))]),
 case("wildcard-only action allowed by Resource star","Allowed",[],action="s3:ListAllMyBuckets",resource="*",identity=[pol(st(action="s3:ListAllMyBuckets",resource="*"))]),
 case("wildcard-only action ignores the resource given","ImplicitlyDenied",["identity"],action="s3:ListAllMyBuckets",resource="arn:aws:s3:::bucket",identity=[pol(st(action="s3:*",resource="arn:aws:s3:::bucket"))]),
 case("star in the resource part spans slashes","Allowed",[],resource="arn:aws:s3:::bucket/1/2/test/3/x",identity=[pol(st(resource="arn:aws:s3:::bucket/*/test/*"))]),
 case("star in the resource part spans colons","Allowed",[],action="logs:PutLogEvents",resource=f"arn:aws:logs:us-east-1:{A}:log-group:app:log-stream:s1",identity=[pol(st(action="logs:PutLogEvents",resource=f"arn:aws:logs:us-east-1:{A}:log-group:app*"))]),
 case("star in the region segment does not cross colons","ImplicitlyDenied",["identity"],action="sqs:SendMessage",resource=f"arn:aws:sqs:us-east-1:{A}:queue",identity=[pol(st(action="sqs:SendMessage",resource=f"arn:aws:sqs:*{A}:queue"))]),
 case("wildcards in the region segment","Allowed",[],action="sqs:SendMessage",resource=f"arn:aws:sqs:us-east-1:{A}:queue",identity=[pol(st(action="sqs:SendMessage",resource=f"arn:aws:sqs:us-*-?:{A}:queue"))]),
 case("short resource ARN is padded with stars","Allowed",[],action="sqs:SendMessage",resource=f"arn:aws:sqs:us-east-1:{A}:queue",identity=[pol(st(action="sqs:SendMessage",resource="arn:aws:sqs"))]),
 case("resource part is case-sensitive","ImplicitlyDenied",["identity"],resource="arn:aws:s3:::bucket/key",identity=[pol(st(resource="arn:aws:s3:::Bucket/*"))]),
 case("service segment compares case-insensitively","Allowed",[],resource="arn:aws:s3:::bucket/key",identity=[pol(st(resource="arn:aws:S3:::bucket/*"))]),
 case("deny with NotResource denies everything else","ExplicitlyDenied",["identity"],resource="arn:aws:s3:::other/key",identity=[ALLOW_ALL,pol(st("Deny",action="s3:*",resource=None,notresource=["arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]))]),
 case("deny with NotResource spares the listed resources","Allowed",[],resource="arn:aws:s3:::HRBucket/Payroll/jan",identity=[ALLOW_ALL,pol(st("Deny",action="s3:*",resource=None,notresource=["arn:aws:s3:::HRBucket/Payroll","arn:aws:s3:::HRBucket/Payroll/*"]))]),
 case("sts:GetCallerIdentity is allowed even under an explicit deny","Allowed",[],action="sts:GetCallerIdentity",resource="*",identity=[pol(st("Deny",action="*"))],scp=[[pol(st("Deny",action="*"))]]),
 case("sts:GetCallerIdentity is not free for anonymous callers","ImplicitlyDenied",["resource"],principal="anonymous",action="sts:GetCallerIdentity",resource="*"),
 case("several statements: one matching allow suffices","Allowed",[],identity=[pol(st(action="ec2:*"),st(action="s3:GetObject",resource="arn:aws:s3:::bucket/key"))]),
]

def cond_case(name, expect, cond, context=None, effect="Allow", action="s3:GetObject", **kw):
    stmts=[st(effect,action=action,cond=cond)]
    if effect=="Deny": stmts.insert(0,st(action="*"))
    return case(name,expect,None,context=context,action=action,identity=[pol(*stmts)],**kw)

files['conditions']=[
 cond_case("StringEquals matches","Allowed",{"StringEquals":{"aws:PrincipalTag/team":"red"}},{"aws:PrincipalTag/team":"red"}),
 cond_case("StringEquals values are case-sensitive","ImplicitlyDenied",{"StringEquals":{"aws:PrincipalTag/team":"Red"}},{"aws:PrincipalTag/team":"red"}),
 cond_case("condition key names are case-insensitive","Allowed",{"StringEquals":{"aws:PrincipalTag/Team":"red"}},{"AWS:principaltag/TEAM":"red"}),
 cond_case("StringEqualsIgnoreCase","Allowed",{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"RED"}},{"aws:PrincipalTag/team":"red"}),
 cond_case("StringNotEqualsIgnoreCase","ImplicitlyDenied",{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"RED"}},{"aws:PrincipalTag/team":"red"}),
 cond_case("StringEquals treats star literally","ImplicitlyDenied",{"StringEquals":{"s3:prefix":"home/*"}},{"s3:prefix":"home/x"}),
 cond_case("StringLike star and question mark","Allowed",{"StringLike":{"s3:prefix":"home/?/*"}},{"s3:prefix":"home/a/b/c"}),
 cond_case("StringNotLike","ImplicitlyDenied",{"StringNotLike":{"s3:prefix":"home/*"}},{"s3:prefix":"home/a"}),
 cond_case("several values of one key are ORed","Allowed",{"StringEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}},{"aws:RequestedRegion":"us-east-1"}),
 cond_case("negated operator with several values means none of them","ImplicitlyDenied",{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","us-east-1"]}},{"aws:RequestedRegion":"us-east-1"}),
 cond_case("several keys are ANDed","ImplicitlyDenied",{"StringEquals":{"aws:RequestedRegion":"us-east-1","aws:PrincipalTag/team":"red"}},{"aws:RequestedRegion":"us-east-1"}),
 cond_case("several operators are ANDed","Allowed",{"StringEquals":{"aws:RequestedRegion":"us-east-1"},"Bool":{"aws:SecureTransport":"true"}},{"aws:RequestedRegion":"us-east-1","aws:SecureTransport":True}),
 cond_case("missing key: positive operator fails","ImplicitlyDenied",{"StringEquals":{"aws:PrincipalTag/team":"red"}}),
 cond_case("missing key: negated operator holds","Allowed",{"StringNotEquals":{"aws:PrincipalTag/team":"red"}}),
 cond_case("missing key: IfExists holds","Allowed",{"StringEqualsIfExists":{"aws:PrincipalTag/team":"red"}}),
 cond_case("present key: IfExists compares","ImplicitlyDenied",{"StringEqualsIfExists":{"aws:PrincipalTag/team":"red"}},{"aws:PrincipalTag/team":"blue"}),
 cond_case("deny with StringNotEqualsIfExists still denies when the key is missing","ExplicitlyDenied",{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"red"}},effect="Deny"),
 cond_case("Null true: key absent","Allowed",{"Null":{"aws:PrincipalTag/team":"true"}}),
 cond_case("Null true: key present","ImplicitlyDenied",{"Null":{"aws:PrincipalTag/team":"true"}},{"aws:PrincipalTag/team":"x"}),
 cond_case("Null false: key present","Allowed",{"Null":{"aws:PrincipalTag/team":"false"}},{"aws:PrincipalTag/team":"x"}),
 cond_case("ForAllValues holds when the key is absent (dangerous with Allow)","Allowed",{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}),
 cond_case("ForAllValues holds when the key is empty","Allowed",{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}},{"aws:TagKeys":[]}),
 cond_case("ForAllValues: subset matches","Allowed",{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}},{"aws:TagKeys":["a"]}),
 cond_case("ForAllValues: extra value fails","ImplicitlyDenied",{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}},{"aws:TagKeys":["a","c"]}),
 cond_case("ForAnyValue fails when the key is absent","ImplicitlyDenied",{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}),
 cond_case("ForAnyValue: one common value","Allowed",{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}},{"aws:TagKeys":["c","a"]}),
 cond_case("ForAnyValue IfExists holds when absent","Allowed",{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":["a"]}}),
 cond_case("ForAnyValue:StringNotEquals: some value differs","Allowed",{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a"]}},{"aws:TagKeys":["a","b"]}),
 cond_case("plain operator against a multi-valued key does not match","ImplicitlyDenied",{"StringEquals":{"aws:TagKeys":"a"}},{"aws:TagKeys":["a"]}),
 cond_case("plain negated operator against a multi-valued key does not match either","Allowed",{"StringNotEquals":{"aws:TagKeys":"x"}},{"aws:TagKeys":["a"]},effect="Deny"),
 cond_case("set operator against a single-valued key","Allowed",{"ForAnyValue:StringEquals":{"aws:PrincipalTag/team":["red","blue"]}},{"aws:PrincipalTag/team":"red"}),
 cond_case("NumericLessThan","Allowed",{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}},{"aws:MultiFactorAuthAge":"100"}),
 cond_case("NumericLessThan with a typed number","Allowed",{"NumericLessThan":{"aws:MultiFactorAuthAge":3600}},{"aws:MultiFactorAuthAge":100}),
 cond_case("Numeric operators compare decimals","Allowed",{"NumericGreaterThanEquals":{"s3:TlsVersion":"1.2"}},{"s3:TlsVersion":"1.3"}),
 cond_case("Numeric operator on a non-number does not match","ImplicitlyDenied",{"NumericEquals":{"aws:MultiFactorAuthAge":"5"}},{"aws:MultiFactorAuthAge":"five"}),
 cond_case("NumericNotEquals","Allowed",{"NumericNotEquals":{"s3:max-keys":"10"}},{"s3:max-keys":"11"}),
 cond_case("DateGreaterThan with ISO 8601","Allowed",{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}},{"aws:CurrentTime":"2024-06-01T12:00:00Z"}),
 cond_case("DateLessThan compares instants across zones","ImplicitlyDenied",{"DateLessThan":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}},{"aws:CurrentTime":"2024-06-01T13:30:00+01:00"}),
 cond_case("Date operators accept epoch seconds","Allowed",{"DateLessThanEquals":{"aws:EpochTime":"1717243200"}},{"aws:EpochTime":"2024-06-01T12:00:00Z"}),
 cond_case("DateEquals epoch vs ISO","Allowed",{"DateEquals":{"aws:TokenIssueTime":"2024-06-01T12:00:00Z"}},{"aws:TokenIssueTime":"1717243200"}),
 cond_case("Bool true","Allowed",{"Bool":{"aws:SecureTransport":"true"}},{"aws:SecureTransport":"true"}),
 cond_case("Bool values are case-insensitive","Allowed",{"Bool":{"aws:SecureTransport":"TRUE"}},{"aws:SecureTransport":True}),
 cond_case("deny insecure transport","ExplicitlyDenied",{"Bool":{"aws:SecureTransport":"false"}},{"aws:SecureTransport":False},effect="Deny"),
 cond_case("Bool accepts policy variables (decision)","Allowed",{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}},{"aws:SecureTransport":"true","aws:PrincipalTag/tls":"true"}),
 cond_case("BinaryEquals compares base64 bytes","Allowed",{"BinaryEquals":{"kms:EncryptionContext:blob":"aGVsbG8="}},{"kms:EncryptionContext:blob":"aGVsbG8"}),
 cond_case("IpAddress IPv4 CIDR","Allowed",{"IpAddress":{"aws:SourceIp":"10.1.0.0/16"}},{"aws:SourceIp":"10.1.2.3"}),
 cond_case("IpAddress outside the CIDR","ImplicitlyDenied",{"IpAddress":{"aws:SourceIp":"10.1.0.0/16"}},{"aws:SourceIp":"10.2.2.3"}),
 cond_case("IpAddress bare address is /32","Allowed",{"IpAddress":{"aws:SourceIp":"203.0.113.7"}},{"aws:SourceIp":"203.0.113.7"}),
 cond_case("IpAddress IPv6 CIDR","Allowed",{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}},{"aws:SourceIp":"2001:db8:1::5"}),
 cond_case("NotIpAddress deny outside the range","ExplicitlyDenied",{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}},{"aws:SourceIp":"198.51.100.1"},effect="Deny"),
 cond_case("NotIpAddress deny inside the range does not apply","Allowed",{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}},{"aws:SourceIp":"192.0.2.9"},effect="Deny"),
 cond_case("ArnLike compares segment by segment","ImplicitlyDenied",{"ArnLike":{"aws:SourceArn":"arn:aws:svc:*:111122223333:finance/*"}},{"aws:SourceArn":"arn:aws:svc:us-east-2:999999999999:store/abc:111122223333"}),
 cond_case("StringLike lets the star cross colons where ArnLike does not","Allowed",{"StringLike":{"aws:SourceArn":"arn:aws:svc:*:111122223333*"}},{"aws:SourceArn":"arn:aws:svc:us-east-2:999999999999:store/abc:111122223333"}),
 cond_case("ArnEquals accepts wildcards like ArnLike","Allowed",{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111111111111:topic-*"}},{"aws:SourceArn":"arn:aws:sns:us-east-1:111111111111:topic-a"}),
 cond_case("ArnNotLike","ImplicitlyDenied",{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:111111111111:*"}},{"aws:SourceArn":"arn:aws:sns:us-east-1:111111111111:topic-a"}),
 cond_case("typed context values (IAM ContextKeyType)","Allowed",{"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"},"ForAnyValue:IpAddress":{"aws:VpcSourceIp":"10.0.0.0/8"}},{"aws:TokenIssueTime":{"type":"date","value":"2024-01-01T00:00:00Z"},"aws:VpcSourceIp":{"type":"ipList","values":["192.0.2.1","10.9.9.9"]}}),
 cond_case("unknown operator with an empty block is ignored","Allowed",{"Whatever":{}}),
 cond_case("derived key aws:username","Allowed",{"StringEquals":{"aws:username":"alice"}}),
 cond_case("derived key aws:PrincipalArn of a role session is the role ARN","Allowed",{"ArnEquals":{"aws:PrincipalArn":ROLE}},principal=SESS),
 cond_case("derived key aws:PrincipalType","Allowed",{"StringEquals":{"aws:PrincipalType":"AssumedRole"}},principal=SESS),
]

def var_case(name, expect, resource_pat, resource, context=None, principal=ALICE, version="2012-10-17"):
    return case(name,expect,None,principal=principal,resource=resource,context=context,identity=[pol(st(resource=resource_pat))])
files['variables']=[
 var_case("aws:username in the resource","Allowed","arn:aws:s3:::bucket/home/${aws:username}/*","arn:aws:s3:::bucket/home/alice/x"),
 var_case("aws:username does not reach another user's folder","ImplicitlyDenied","arn:aws:s3:::bucket/home/${aws:username}/*","arn:aws:s3:::bucket/home/bob/x"),
 var_case("variable names are case-insensitive","Allowed","arn:aws:s3:::bucket/home/${AWS:UserName}/*","arn:aws:s3:::bucket/home/alice/x"),
 var_case("a substituted star is literal","ImplicitlyDenied","arn:aws:s3:::bucket/${aws:PrincipalTag/team}/x","arn:aws:s3:::bucket/red/x",{"aws:PrincipalTag/team":"*"}),
 var_case("a substituted star matches a literal star","Allowed","arn:aws:s3:::bucket/${aws:PrincipalTag/team}/x","arn:aws:s3:::bucket/*/x",{"aws:PrincipalTag/team":"*"}),
 var_case("default value when the key is absent","Allowed","arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'none'}/*","arn:aws:s3:::bucket/none/x"),
 var_case("default value unused when the key is present","ImplicitlyDenied","arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'none'}/*","arn:aws:s3:::bucket/none/x",{"aws:PrincipalTag/team":"red"}),
 var_case("unresolved variable in Resource matches nothing","ImplicitlyDenied","arn:aws:s3:::bucket/${aws:PrincipalTag/team}*","arn:aws:s3:::bucket/x"),
 var_case("multi-valued keys cannot be variables","ImplicitlyDenied","arn:aws:s3:::bucket/${aws:TagKeys}","arn:aws:s3:::bucket/a",{"aws:TagKeys":["a"]}),
 var_case("${*} is a literal star","ImplicitlyDenied","arn:aws:s3:::bucket/${*}","arn:aws:s3:::bucket/x"),
 var_case("${*} matches a literal star","Allowed","arn:aws:s3:::bucket/${*}${?}${$}","arn:aws:s3:::bucket/*?$"),
 case("variables are not substituted before the fifth colon","ImplicitlyDenied",["identity"],action="sqs:SendMessage",resource=f"arn:aws:sqs:us-east-1:{A}:queue",identity=[pol(st(action="sqs:SendMessage",resource="arn:aws:sqs:us-east-1:${aws:PrincipalAccount}:queue"))]),
 var_case("bucket names are in the resource part, so variables work there","Allowed",f"arn:aws:s3:::${{aws:PrincipalAccount}}-logs/*",f"arn:aws:s3:::{A}-logs/x"),
 case("variables are literal in a 2008-10-17 policy","ImplicitlyDenied",["identity"],resource="arn:aws:s3:::bucket/alice",resource_policy=pol(st(resource="arn:aws:s3:::bucket/${aws:username}",principal={"AWS":ALICE}),version="2008-10-17")),
 case("a 2008-10-17 policy matches the literal text","Allowed",[],resource="arn:aws:s3:::bucket/${aws:username}",resource_policy=pol(st(resource="arn:aws:s3:::bucket/${aws:username}",principal={"AWS":ALICE}),version="2008-10-17")),
 case("no Version means 2008-10-17","ImplicitlyDenied",["identity"],resource="arn:aws:s3:::bucket/alice",resource_policy=pol(st(resource="arn:aws:s3:::bucket/${aws:username}",principal={"AWS":ALICE}),version=None)),
 cond_case("variable in a condition value","Allowed",{"StringEquals":{"s3:prefix":"home/${aws:username}"}},{"s3:prefix":"home/alice"}),
 cond_case("unresolved variable: negated operator holds","Allowed",{"StringNotEquals":{"s3:prefix":"${aws:PrincipalTag/x}"}},{"s3:prefix":"a"}),
 cond_case("unresolved variable: positive operator fails","ImplicitlyDenied",{"StringEquals":{"s3:prefix":"${aws:PrincipalTag/x}"}},{"s3:prefix":"a"}),
 cond_case("variables are not substituted in Numeric operators","ImplicitlyDenied",{"NumericEquals":{"s3:max-keys":"${aws:PrincipalTag/n}"}},{"s3:max-keys":"5","aws:PrincipalTag/n":"5"}),
 cond_case("tag key case-insensitivity in variables","Allowed",{"StringEquals":{"aws:ResourceTag/Owner":"${aws:PrincipalTag/Owner}"}},{"aws:resourcetag/owner":"alice","aws:principaltag/OWNER":"alice"}),
]

BUCKET=pol
def bp(*stmts, version="2012-10-17"): return pol(*stmts, version=version)
files['layers']=[
 case("boundary without allow is a ceiling","ImplicitlyDenied",["pb"],identity=[ALLOW_ALL],pb=[pol(st(action="ec2:*"))]),
 case("identity and boundary both allow","Allowed",[],identity=[ALLOW_ALL],pb=[pol(st(action="s3:*"))]),
 case("boundary alone grants nothing","ImplicitlyDenied",["identity"],pb=[pol(st(action="s3:*"))]),
 case("explicit deny in a boundary","ExplicitlyDenied",["pb"],identity=[ALLOW_ALL],pb=[pol(st(action="*"),st("Deny",action="s3:GetObject"))]),
 case("session policy is a ceiling","ImplicitlyDenied",["session"],principal=SESS,identity=[ALLOW_ALL],session=pol(st(action="ec2:*"))),
 case("session policy and identity both allow","Allowed",[],principal=SESS,identity=[ALLOW_ALL],session=pol(st(action="s3:GetObject"))),
 case("session policy alone grants nothing","ImplicitlyDenied",["identity"],principal=SESS,session=pol(st(action="s3:GetObject"))),
 case("federated user without a session policy has no permissions (decision)","ImplicitlyDenied",["session"],principal=f"arn:aws:sts::{A}:federated-user/bob",identity=[ALLOW_ALL]),
 case("SCPs: every level allows","Allowed",[],identity=[ALLOW_ALL],scp=[[ALLOW_ALL],[pol(st(action="s3:*"))],[ALLOW_ALL]]),
 case("SCPs: one level without allow blocks","ImplicitlyDenied",["scp"],identity=[ALLOW_ALL],scp=[[ALLOW_ALL],[pol(st(action="ec2:*"))],[ALLOW_ALL]]),
 case("SCPs: allow at one level is not enough","ImplicitlyDenied",["scp"],identity=[ALLOW_ALL],scp=[[ALLOW_ALL],[]]),
 case("SCPs grant nothing by themselves","ImplicitlyDenied",["identity"],scp=[[ALLOW_ALL]]),
 case("SCP explicit deny","ExplicitlyDenied",["scp"],identity=[ALLOW_ALL],scp=[[ALLOW_ALL,pol(st("Deny",action="s3:*"))]]),
 case("SCP deny applies to the root user","ExplicitlyDenied",["scp"],principal=f"arn:aws:iam::{A}:root",scp=[[ALLOW_ALL,pol(st("Deny",action="s3:*"))]]),
 case("root user needs no identity policy","Allowed",[],principal=f"arn:aws:iam::{A}:root"),
 case("SCPs do not restrict service-linked roles","Allowed",[],principal=f"arn:aws:sts::{A}:assumed-role/AWSServiceRoleForX/s",req={"principalArn":f"arn:aws:iam::{A}:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX"},identity=[ALLOW_ALL],scp=[[pol(st("Deny",action="*"))]]),
 case("SCPs do not restrict service principals","Allowed",[],principal="cloudtrail.amazonaws.com",action="s3:PutObject",resource_policy=bp(st(action="s3:PutObject",resource="arn:aws:s3:::bucket/*",principal={"Service":"cloudtrail.amazonaws.com"})),scp=[[pol(st("Deny",action="*"))]]),
 case("RCP deny","ExplicitlyDenied",["rcp"],identity=[ALLOW_ALL],rcp=[[pol(st("Deny",action="s3:*",principal="*",cond={"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}))]]),
 case("RCP deny lifted by its condition","Allowed",[],identity=[ALLOW_ALL],context={"aws:PrincipalOrgID":"o-123"},rcp=[[pol(st("Deny",action="s3:*",principal="*",cond={"StringNotEquals":{"aws:PrincipalOrgID":"o-123"}}))]]),
 case("RCPFullAWSAccess is implicit at every level","Allowed",[],identity=[ALLOW_ALL],rcp=[[],[pol(st("Deny",action="s3:DeleteBucket",principal="*"))]]),
 case("RCPs do not apply to services without RCP support","Allowed",[],action="iam:GetUser",resource=f"arn:aws:iam::{A}:user/alice",identity=[ALLOW_ALL],rcp=[[pol(st("Deny",action="*",principal="*"))]]),
 case("RCPs apply to anonymous callers","ExplicitlyDenied",["rcp"],principal="anonymous",resource_policy=bp(st(principal="*")),rcp=[[pol(st("Deny",action="s3:*",principal="*",cond={"Bool":{"aws:SecureTransport":"false"}}))]],context={"aws:SecureTransport":False}),
 case("VPC endpoint policy must allow","ImplicitlyDenied",["vpce"],identity=[ALLOW_ALL],vpce=[pol(st(action="s3:PutObject",principal="*"))]),
 case("VPC endpoint policy allows","Allowed",[],identity=[ALLOW_ALL],vpce=[pol(st(action="s3:Get*",principal="*"))]),
 case("VPC endpoint policy deny","ExplicitlyDenied",["vpce"],identity=[ALLOW_ALL],vpce=[pol(st(action="*",principal="*"),st("Deny",action="s3:GetObject",principal="*"))]),
 case("explicit deny in a resource policy beats identity allow","ExplicitlyDenied",["resource"],identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",resource="arn:aws:s3:::bucket/*",principal="*"))),
 case("bucket policy deny applies to the root user","ExplicitlyDenied",["resource"],principal=f"arn:aws:iam::{A}:root",resource_policy=bp(st("Deny",action="s3:*",resource="arn:aws:s3:::bucket/*",principal="*"))),
 case("every matched statement is reported","ExplicitlyDenied",["scp","identity"],identity=[pol(st(sid="A"),st("Deny",sid="D"))],scp=[[pol(st("Deny",action="s3:*"))]]),
]

KEYP=lambda *stmts: pol(*stmts)
files['resource_policies']=[
 case("same account: resource policy naming the user suffices","Allowed",[],resource_policy=bp(st(principal={"AWS":ALICE}))),
 case("same account: user ARN grant ignores the boundary","Allowed",[],resource_policy=bp(st(principal={"AWS":ALICE})),pb=[pol(st(action="ec2:*"))]),
 case("same account: role ARN grant needs no identity policy","Allowed",[],principal=SESS,resource_policy=bp(st(principal={"AWS":ROLE}))),
 case("same account: role ARN grant is capped by the boundary","ImplicitlyDenied",["identity","pb"],principal=SESS,resource_policy=bp(st(principal={"AWS":ROLE})),pb=[pol(st(action="ec2:*"))]),
 case("same account: role ARN grant is capped by the session policy","ImplicitlyDenied",["identity","session"],principal=SESS,resource_policy=bp(st(principal={"AWS":ROLE})),session=pol(st(action="ec2:*"))),
 case("same account: session ARN grant ignores boundary and session policy","Allowed",[],principal=SESS,resource_policy=bp(st(principal={"AWS":SESS})),pb=[pol(st(action="ec2:*"))],session=pol(st(action="ec2:*"))),
 case("same account: role with a path named in the resource policy","Allowed",[],principal=f"arn:aws:sts::{A}:assumed-role/App/s1",req={"principalArn":f"arn:aws:iam::{A}:role/team/App"},resource_policy=bp(st(principal={"AWS":f"arn:aws:iam::{A}:role/team/App"}))),
 case("same account: account grant is a delegation, identity must allow","ImplicitlyDenied",["identity"],resource_policy=bp(st(principal={"AWS":A}))),
 case("same account: account grant with identity allow","Allowed",[],resource_policy=bp(st(principal={"AWS":f"arn:aws:iam::{A}:root"})),identity=[pol(st())]),
 case("same account: identity policy alone suffices without resource policy","Allowed",[],identity=[pol(st())]),
 case("same account: wildcard principal grants a user","Allowed",[],resource_policy=bp(st(principal="*"))),
 case("same account: wildcard principal grant to a session is capped by the boundary (decision)","ImplicitlyDenied",["identity","pb"],principal=SESS,resource_policy=bp(st(principal="*")),pb=[pol(st(action="ec2:*"))]),
 case("a principal stored as a role unique ID matches the role's sessions","Allowed",[],principal=SESS,req={"userId":"AROAEXAMPLEROLEID1234:s1"},resource_policy=bp(st(principal={"AWS":"AROAEXAMPLEROLEID1234"}))),
 case("a unique ID of a deleted and recreated role no longer matches","ImplicitlyDenied",["identity"],principal=SESS,req={"userId":"AROANEWROLEID99999999:s1"},resource_policy=bp(st(principal={"AWS":"AROAEXAMPLEROLEID1234"}))),
 case("assumed-role sessions must be named exactly","ImplicitlyDenied",["identity"],principal=SESS,resource_policy=bp(st(principal={"AWS":f"arn:aws:sts::{A}:assumed-role/App/s2"}))),
 case("user name part of principal ARNs is case-sensitive","ImplicitlyDenied",["identity"],resource_policy=bp(st(principal={"AWS":f"arn:aws:iam::{A}:user/Alice"}))),
 case("cross account: identity alone is not enough","ImplicitlyDenied",["resource"],resource=f"arn:aws:s3:::bucket/key",req={"resourceAccount":B},identity=[ALLOW_ALL]),
 case("cross account: resource policy alone is not enough","ImplicitlyDenied",["identity"],req={"resourceAccount":B},resource_policy=bp(st(principal={"AWS":ALICE}))),
 case("cross account: both sides allow","Allowed",[],req={"resourceAccount":B},identity=[ALLOW_ALL],resource_policy=bp(st(principal={"AWS":ALICE}))),
 case("cross account: account-level grant plus identity allow","Allowed",[],req={"resourceAccount":B},identity=[ALLOW_ALL],resource_policy=bp(st(principal={"AWS":A}))),
 case("cross account: grant to another account does not match","ImplicitlyDenied",["resource"],req={"resourceAccount":B},identity=[ALLOW_ALL],resource_policy=bp(st(principal={"AWS":"333333333333"}))),
 case("cross account: boundary still applies","ImplicitlyDenied",["pb"],req={"resourceAccount":B},identity=[ALLOW_ALL],pb=[pol(st(action="ec2:*"))],resource_policy=bp(st(principal={"AWS":ALICE}))),
 case("cross account: SCPs of the caller's account apply","ImplicitlyDenied",["scp"],req={"resourceAccount":B},identity=[ALLOW_ALL],scp=[[pol(st(action="ec2:*"))]],resource_policy=bp(st(principal={"AWS":ALICE}))),
 case("anonymous: public bucket policy","Allowed",[],principal="anonymous",resource_policy=bp(st(principal="*"))),
 case("anonymous: AWS star is the same as star","Allowed",[],principal="anonymous",resource_policy=bp(st(principal={"AWS":"*"}))),
 case("anonymous: no resource policy","ImplicitlyDenied",["resource"],principal="anonymous"),
 case("anonymous: account principal does not match","ImplicitlyDenied",["resource"],principal="anonymous",resource_policy=bp(st(principal={"AWS":A}))),
 case("anonymous: identity policies do not apply","ImplicitlyDenied",["resource"],principal="anonymous",identity=[ALLOW_ALL]),
 case("service principal named in the bucket policy","Allowed",[],principal="cloudtrail.amazonaws.com",action="s3:PutObject",resource_policy=bp(st(action="s3:PutObject",resource="arn:aws:s3:::bucket/*",principal={"Service":"cloudtrail.amazonaws.com"}))),
 case("another service principal does not match","ImplicitlyDenied",["resource"],principal="config.amazonaws.com",action="s3:PutObject",resource_policy=bp(st(action="s3:PutObject",resource="arn:aws:s3:::bucket/*",principal={"Service":"cloudtrail.amazonaws.com"}))),
 case("service principal condition aws:SourceAccount","ImplicitlyDenied",["resource"],principal="cloudtrail.amazonaws.com",action="s3:PutObject",context={"aws:SourceAccount":B},resource_policy=bp(st(action="s3:PutObject",resource="arn:aws:s3:::bucket/*",principal={"Service":"cloudtrail.amazonaws.com"},cond={"StringEquals":{"aws:SourceAccount":A}}))),
 case("NotPrincipal deny: listing only the user still denies it","ExplicitlyDenied",["resource"],identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",notprincipal={"AWS":[ALICE]}))),
 case("NotPrincipal deny: user and account listed exempts the user","Allowed",[],identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",notprincipal={"AWS":[ALICE,f"arn:aws:iam::{A}:root"]}))),
 case("NotPrincipal deny: a session needs session, role and account listed","ExplicitlyDenied",["resource"],principal=SESS,identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",notprincipal={"AWS":[ROLE,A]}))),
 case("NotPrincipal deny: session, role and account listed","Allowed",[],principal=SESS,identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",notprincipal={"AWS":[SESS,ROLE,A]}))),
 case("NotPrincipal deny applies to others","ExplicitlyDenied",["resource"],principal=f"arn:aws:iam::{A}:user/bob",identity=[ALLOW_ALL],resource_policy=bp(st("Deny",action="s3:*",notprincipal={"AWS":[ALICE,A]}))),
]
KEY=f"arn:aws:kms:us-east-1:{A}:key/1234"
files['explicit_trust']=[
 case("KMS: identity allow without key policy grant","ImplicitlyDenied",["resource"],action="kms:Decrypt",resource=KEY,identity=[ALLOW_ALL],resource_policy=pol(st(action="kms:*",principal={"AWS":"arn:aws:iam::111111111111:user/bob"}))),
 case("KMS: key policy enables IAM policies (account root) and identity allows","Allowed",[],action="kms:Decrypt",resource=KEY,identity=[pol(st(action="kms:Decrypt"))],resource_policy=pol(st(action="kms:*",principal={"AWS":f"arn:aws:iam::{A}:root"}))),
 case("KMS: account grant without identity allow","ImplicitlyDenied",["identity"],action="kms:Decrypt",resource=KEY,resource_policy=pol(st(action="kms:*",principal={"AWS":f"arn:aws:iam::{A}:root"}))),
 case("KMS: key policy naming the user needs no identity policy","Allowed",[],action="kms:Decrypt",resource=KEY,resource_policy=pol(st(action="kms:Decrypt",principal={"AWS":ALICE}))),
 case("KMS: no key policy at all","ImplicitlyDenied",["resource"],action="kms:Decrypt",resource=KEY,identity=[ALLOW_ALL]),
 case("trust policy naming the caller","Allowed",[],action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"AWS":ALICE}))),
 case("trust policy naming the account needs an identity allow","ImplicitlyDenied",["identity"],action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"AWS":A}))),
 case("trust policy naming the account with identity allow","Allowed",[],action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",identity=[pol(st(action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App"))],resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"AWS":A}))),
 case("identity allow is not enough to assume a role","ImplicitlyDenied",["resource"],action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",identity=[ALLOW_ALL],resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"Service":"ec2.amazonaws.com"}))),
 case("cross-account AssumeRole needs both sides","ImplicitlyDenied",["identity"],principal=f"arn:aws:iam::{B}:user/carol",action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"AWS":f"arn:aws:iam::{B}:user/carol"}))),
 case("service assumes a role through the trust policy","Allowed",[],principal="ec2.amazonaws.com",action="sts:AssumeRole",resource=f"arn:aws:iam::{A}:role/App",resource_policy=pol(st(action="sts:AssumeRole",resource=None,principal={"Service":"ec2.amazonaws.com"}))),
 case("web identity through the trust policy","Allowed",[],principal=f"arn:aws:iam::{A}:oidc-provider/token.actions.githubusercontent.com",action="sts:AssumeRoleWithWebIdentity",resource=f"arn:aws:iam::{A}:role/App",context={"token.actions.githubusercontent.com:sub":"repo:org/app:ref:refs/heads/main"},resource_policy=pol(st(action="sts:AssumeRoleWithWebIdentity",resource=None,principal={"Federated":f"arn:aws:iam::{A}:oidc-provider/token.actions.githubusercontent.com"},cond={"StringLike":{"token.actions.githubusercontent.com:sub":"repo:org/app:*"}}))),
]
for name, cases in files.items():
    with open(os.path.join(OUT, name+'.json'),'w') as f:
        json.dump(cases,f,indent=1); f.write('\n')
print(sum(len(c) for c in files.values()))
