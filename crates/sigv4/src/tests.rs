use crate::canonical::{normalize_path, parse_amz_date, parse_http_date};

#[test]
fn normalizes_paths_like_the_official_signers() {
    for (input, want) in [
        ("", "/"),
        ("/", "/"),
        ("//example//", "/example/"),
        ("/./", "/"),
        ("/example/..", "/"),
        ("/example1/example2/../..", "/"),
        ("/./example", "/example"),
        ("/a/b/.", "/a/b/"),
        ("/../x", "/x"),
        (".", "."),
        ("/a.b/c", "/a.b/c"),
    ] {
        assert_eq!(normalize_path(input), want, "{input:?}");
    }
}

#[test]
fn parses_dates() {
    let a = parse_amz_date("20150830T123600Z").unwrap();
    let b = parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
    assert_eq!(a, b);
    assert!(parse_amz_date("20150830T123600").is_none());
    assert!(parse_amz_date("20151330T123600Z").is_none());
    assert!(parse_http_date("Sun, 30 Foo 2015 12:36:00 GMT").is_none());
}

/// Regression: a `Date` header with a number too long for u32 panicked the worker
/// (overflow checks are on in release builds), dropping the connection's requests.
#[test]
fn dates_with_overlong_numbers_are_refused_not_panicked_on() {
    assert!(parse_http_date("Sun, 99999999999 Aug 2015 12:36:00 GMT").is_none());
    assert!(parse_http_date("Sun, 30 Aug 99999999999999 12:36:00 GMT").is_none());
    assert!(parse_http_date("Sun, 30 Aug 2015 99999999999:36:00 GMT").is_none());
    assert!(parse_amz_date("99999999999999T123600Z").is_none());
}

/// Regression: the credential scope's Region was taken as given, and names the directories
/// trail files are written to: `..`, a newline or 300 characters reached the file system.
#[test]
fn region_names_are_awss_spelling() {
    use crate::is_region_name;
    for ok in [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "cn-northwest-1",
        "us-isob-east-1",
        "eusc-de-east-1",
        "aws-global",
    ] {
        assert!(is_region_name(ok), "{ok}");
    }
    let long = "q".repeat(300);
    for bad in [
        "",
        "..",
        "moon-1",
        "us-east",
        "US-EAST-1",
        "us-east-1\n",
        "x%0Ay",
        "us--1",
        "us-east-100",
        "us/east-1",
        long.as_str(),
    ] {
        assert!(!is_region_name(bad), "{bad:?}");
    }
}

/// Regression (multi-Region keys and secret replicas): a replica Region was any string,
/// `xx-foo-1` or another partition's `cn-north-1`; the partition of a Region decides.
#[test]
fn regions_belong_to_their_partition() {
    use crate::region_partition;
    for (region, partition) in [
        ("us-east-1", Some("aws")),
        ("eu-west-1", Some("aws")),
        ("il-central-1", Some("aws")),
        ("cn-north-1", Some("aws-cn")),
        ("us-gov-west-1", Some("aws-us-gov")),
        ("us-iso-east-1", Some("aws-iso")),
        ("us-isob-east-1", Some("aws-iso-b")),
        ("eu-isoe-west-1", Some("aws-iso-e")),
        ("us-isof-south-1", Some("aws-iso-f")),
        ("eusc-de-east-1", Some("aws-eusc")),
        ("xx-foo-1", None),
        ("aws-global", None),
        ("us-east", None),
        ("", None),
    ] {
        assert_eq!(region_partition(region), partition, "{region}");
    }
}
