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
