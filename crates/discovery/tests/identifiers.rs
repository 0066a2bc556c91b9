//! Per-identifier positive and negative cases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use palisade_discovery::{Engine, EngineBuilder, Selection};

fn engine() -> Engine {
    Engine::with_defaults().unwrap()
}

/// (type, value) pairs found in `text`.
fn found(e: &Engine, text: &str) -> Vec<(String, String)> {
    e.scan_bytes(text.as_bytes())
        .iter()
        .map(|d| (e.type_id(d).to_owned(), text[d.start..d.end].to_owned()))
        .collect()
}

fn has(text: &str, ty: &str, value: &str) {
    let e = engine();
    let f = found(&e, text);
    assert!(
        f.iter().any(|(t, v)| t == ty && v == value),
        "expected {ty} {value:?} in {text:?}, got {f:?}"
    );
}

fn lacks(text: &str, ty: &str) {
    let e = engine();
    let f = found(&e, text);
    assert!(
        !f.iter().any(|(t, _)| t == ty),
        "unexpected {ty} in {text:?}: {f:?}"
    );
}

#[test]
fn credit_cards() {
    has(
        "card number: 4539 1488 0343 6467 thanks",
        "CREDIT_CARD_NUMBER",
        "4539 1488 0343 6467",
    );
    has(
        "ref 4539148803436467.",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
        "4539148803436467",
    );
    has(
        "amex 3782-000012-34566 x",
        "CREDIT_CARD_NUMBER",
        "3782-000012-34566",
    );
    has(
        "jcb 3530 1113 3330 0018 2023",
        "CREDIT_CARD_NUMBER",
        "3530 1113 3330 0018",
    );
    // Maestro, 16 digits.
    has(
        "maestro 6759 0000 1234 5674",
        "CREDIT_CARD_NUMBER",
        "6759 0000 1234 5674",
    );
    // Luhn failure, test PAN, mixed separators, all same digit.
    lacks("card 4539 1488 0343 6468", "CREDIT_CARD_NUMBER");
    lacks("card 4111 1111 1111 1111", "CREDIT_CARD_NUMBER");
    lacks("card 4111111111111111", "CREDIT_CARD_NUMBER_(NO_KEYWORD)");
    lacks("card 4539-1488 0343-6467", "CREDIT_CARD_NUMBER");
    lacks("id 0000000000000000", "CREDIT_CARD_NUMBER_(NO_KEYWORD)");
    // Keyword farther than 30 characters: reported without keyword.
    has(
        "credit card on file, see the attached ledger for 4539148803436467",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
        "4539148803436467",
    );
}

#[test]
fn emails_ips_urls() {
    has(
        "mail jane.doe+x@example.co.uk now",
        "EMAIL_ADDRESS",
        "jane.doe+x@example.co.uk",
    );
    lacks("not an email: foo@bar", "EMAIL_ADDRESS");
    // Regression: retina assets' names were email addresses.
    lacks(
        "<img src=\"logo@2x.png\"> and icon@3X.WEBP",
        "EMAIL_ADDRESS",
    );
    has("write to team@2x.io", "EMAIL_ADDRESS", "team@2x.io");
    has("from 192.168.10.254 port", "IP_ADDRESS", "192.168.10.254");
    has(
        "v6 2001:db8:85a3::8a2e:370:7334 up",
        "IP_ADDRESS",
        "2001:db8:85a3::8a2e:370:7334",
    );
    lacks("version 1.2.3.400", "IP_ADDRESS");
    lacks("version 01.2.3.4", "IP_ADDRESS");
    lacks("Upgrade to version 9.11.1.92 fixed", "IP_ADDRESS");
    lacks("release v2.10.1.7 is out", "IP_ADDRESS");
    // Regression: a requirements file's pins were reported as addresses.
    lacks("requests==2.31.0.1", "IP_ADDRESS");
    lacks("pkg>=10.1.2.3 and tool~=1.2.3.4", "IP_ADDRESS");
    has("host=10.1.2.3", "IP_ADDRESS", "10.1.2.3");
    // Capture filters compare addresses with the same operators.
    has("ip.addr==10.1.2.3", "IP_ADDRESS", "10.1.2.3");
    has("if src!=192.168.0.1 then", "IP_ADDRESS", "192.168.0.1");
    has(
        "see https://example.com/a/b?c=d.",
        "URL",
        "https://example.com/a/b?c=d",
    );
    has("www.example.org is up", "URL", "www.example.org");
    lacks("the file name.txt", "URL");
}

#[test]
fn ssn_and_itin() {
    has(
        "SSN: 536-22-8901",
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-8901",
    );
    has(
        "social security number 536228901",
        "USA_SOCIAL_SECURITY_NUMBER",
        "536228901",
    );
    lacks("order 536-22-8901", "USA_SOCIAL_SECURITY_NUMBER");
    lacks("SSN: 078-05-1120", "USA_SOCIAL_SECURITY_NUMBER");
    lacks("SSN: 666-22-8901", "USA_SOCIAL_SECURITY_NUMBER");
    lacks("SSN: 900-22-8901", "USA_SOCIAL_SECURITY_NUMBER");
    lacks("SSN: 536-00-8901", "USA_SOCIAL_SECURITY_NUMBER");
    has(
        "ITIN 912-70-1234",
        "USA_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        "912-70-1234",
    );
    lacks(
        "ITIN 912-40-1234",
        "USA_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    );
}

#[test]
fn iban() {
    has(
        "pay DE89 3704 0044 0532 0130 00 today",
        "GERMANY_BANK_ACCOUNT_NUMBER",
        "DE89 3704 0044 0532 0130 00",
    );
    has(
        "GB82WEST12345698765432",
        "UK_BANK_ACCOUNT_NUMBER",
        "GB82WEST12345698765432",
    );
    has(
        "FR1420041010050500013M02606",
        "FRANCE_BANK_ACCOUNT_NUMBER",
        "FR1420041010050500013M02606",
    );
    lacks("DE89 3704 0044 0532 0130 01", "GERMANY_BANK_ACCOUNT_NUMBER");
    lacks("XX89370400440532013000", "GERMANY_BANK_ACCOUNT_NUMBER");
}

#[test]
fn credentials() {
    has(
        "key AKIAZ3MSJV4WWNKWW5FG here",
        "AWS_ACCESS_KEY_ID",
        "AKIAZ3MSJV4WWNKWW5FG",
    );
    lacks("key AKIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY_ID");
    has(
        "aws_secret_access_key = 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",
        "AWS_CREDENTIALS",
        "Zk8Jq2mN5vX7pR3tL9wB4yC6hD1sF0gA2eK8uQ5i",
    );
    lacks(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_CREDENTIALS",
    );
    lacks(
        "path Zk8Jq2mN5vX7pR3tL9wB4yC6hD1sF0gA2eK8uQ5i",
        "AWS_CREDENTIALS",
    );
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Y\nabc+/=\n-----END RSA PRIVATE KEY-----";
    has(&format!("x\n{pem}\ny"), "PKCS", pem);
    let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    has(ssh, "OPENSSH_PRIVATE_KEY", ssh);
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    has(&format!("Bearer {jwt}"), "JSON_WEB_TOKEN", jwt);
    lacks(
        "eyJub3Rqc29u.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x",
        "JSON_WEB_TOKEN",
    );
    has(
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "GITHUB_TOKEN",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    );
    has(
        "xoxb-123456789012-abcdefghijkl",
        "SLACK_TOKEN",
        "xoxb-123456789012-abcdefghijkl",
    );
    has(
        "sk_live_4eC39HqLyjWDarjtT1zdp7dcXY",
        "STRIPE_CREDENTIALS",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dcXY",
    );
    lacks("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_CREDENTIALS");
    has(
        "AIzaSyD4-abcdefghijklmnopqrstuvwxyz0123",
        "GCP_API_KEY",
        "AIzaSyD4-abcdefghijklmnopqrstuvwxyz0123",
    );
    has(
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        "HTTP_BASIC_AUTH_HEADER",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==",
    );
    has(
        "client_secret = \"q8Zr2LmN4pX7vB9tK3wY6hJ1\"",
        "GENERIC_SECRET",
        "q8Zr2LmN4pX7vB9tK3wY6hJ1",
    );
    lacks("password = \"aaaaaaaaaaaaaaaaaaaa\"", "GENERIC_SECRET");
}

#[test]
fn phones() {
    has(
        "call (415) 555-0132 today",
        "PHONE_NUMBER",
        "(415) 555-0132",
    );
    has("+1 415 555 0132", "PHONE_NUMBER", "+1 415 555 0132");
    has("phone: 4155550132", "PHONE_NUMBER", "4155550132");
    lacks("id 4155550132", "PHONE_NUMBER");
    has("+44 7911 123456", "UK_PHONE_NUMBER", "+44 7911 123456");
    has("tel 07911 123456", "UK_PHONE_NUMBER", "07911 123456");
    has(
        "+33 6 12 34 56 78",
        "FRANCE_PHONE_NUMBER",
        "+33 6 12 34 56 78",
    );
    has("+49 30 12345678", "GERMANY_PHONE_NUMBER", "+49 30 12345678");
    has("+39 347 123 4567", "ITALY_PHONE_NUMBER", "+39 347 123 4567");
    has("+34 612 34 56 78", "SPAIN_PHONE_NUMBER", "+34 612 34 56 78");
    has(
        "+55 (11) 91234-5678",
        "BRAZIL_PHONE_NUMBER",
        "+55 (11) 91234-5678",
    );
    // An amount fits the Spanish pattern's digit groups but has too few digits for a phone.
    lacks("paid 65022.16 USD", "SPAIN_PHONE_NUMBER");
}

#[test]
fn national_ids() {
    has(
        "NINO AB 12 34 56 C",
        "UK_NATIONAL_INSURANCE_NUMBER",
        "AB 12 34 56 C",
    );
    lacks("NINO GB 12 34 56 C", "UK_NATIONAL_INSURANCE_NUMBER");
    has("NHS number 943 476 5919", "UK_NHS_NUMBER", "943 476 5919");
    lacks("NHS number 943 476 5918", "UK_NHS_NUMBER");
    has(
        "SIN 130 692 544",
        "CANADA_SOCIAL_INSURANCE_NUMBER",
        "130 692 544",
    );
    lacks("SIN 130 692 545", "CANADA_SOCIAL_INSURANCE_NUMBER");
    has(
        "Aadhaar 2341 2341 2346",
        "INDIA_AADHAAR_NUMBER",
        "2341 2341 2346",
    );
    lacks("Aadhaar 2341 2341 2347", "INDIA_AADHAAR_NUMBER");
    has("CPF 529.982.247-25", "BRAZIL_CPF_NUMBER", "529.982.247-25");
    lacks("CPF 529.982.247-26", "BRAZIL_CPF_NUMBER");
    has(
        "CNPJ 11.222.333/0001-81",
        "BRAZIL_CNPJ_NUMBER",
        "11.222.333/0001-81",
    );
    has(
        "passport number 912345678",
        "USA_PASSPORT_NUMBER",
        "912345678",
    );
    has("driver's license D1234567", "DRIVERS_LICENSE", "D1234567");
    has(
        "routing number 011000015",
        "ABA_ROUTING_NUMBER",
        "011000015",
    );
    lacks("routing number 011000016", "ABA_ROUTING_NUMBER");
    has(
        "bank account number 12345678901",
        "BANK_ACCOUNT_NUMBER",
        "12345678901",
    );
    has("SWIFT: DEUTDEFF500", "SWIFT_CODE", "DEUTDEFF500");
}

#[test]
fn dates_cards_people() {
    has("DOB: 03/14/1985", "DATE_OF_BIRTH", "03/14/1985");
    has("born on March 14, 1985", "DATE_OF_BIRTH", "March 14, 1985");
    lacks("meeting 03/14/1985", "DATE_OF_BIRTH");
    lacks("DOB: 02/30/1985", "DATE_OF_BIRTH");
    has("exp 09/27", "CREDIT_CARD_EXPIRATION", "09/27");
    has("CVV: 123", "CREDIT_CARD_SECURITY_CODE", "123");
    lacks("room 123", "CREDIT_CARD_SECURITY_CODE");
    has("Dear John Smith, hello", "NAME", "John Smith");
    lacks("The Company agreed", "NAME");
    has(
        "ship to 1600 Pennsylvania Avenue, Washington, DC 20500 today",
        "ADDRESS",
        "1600 Pennsylvania Avenue, Washington, DC 20500",
    );
    has(
        "write to 10 Downing Street, London SW1A 2AA please",
        "ADDRESS",
        "10 Downing Street, London SW1A 2AA",
    );
    // Regression: a UK address whose street and town are longer than the digit-run windows'
    // reach was missed; addresses are now searched back from their postcode.
    has(
        "send it to 12 Kensington Park Gardens Road, Royal Leamington Spa CV32 4AB by Friday",
        "ADDRESS",
        "12 Kensington Park Gardens Road, Royal Leamington Spa CV32 4AB",
    );
}

#[test]
fn selection_filters() {
    let e = EngineBuilder::new()
        .selection(Selection::parse("CREDIT_CARD_NUMBER").unwrap())
        .build()
        .unwrap();
    let f = found(&e, "ref 4539148803436467 card 4539148803436467 a@b.co");
    assert_eq!(f.len(), 2);
    let e = EngineBuilder::new()
        .selection(Selection::parse("CREDIT_CARD_NUMBER_(NO_KEYWORD)").unwrap())
        .build()
        .unwrap();
    let f = found(
        &e,
        "ref 4539148803436467 ............................................ card 4539148803436468",
    );
    assert_eq!(f.len(), 1);
    assert!(Selection::parse("NOPE").is_err());
    let e = EngineBuilder::new()
        .selection(Selection::parse("ALL,-EMAIL_ADDRESS").unwrap())
        .build()
        .unwrap();
    assert!(found(&e, "a.b@example.com").is_empty());
}

#[test]
fn recommended_set_extras() {
    has(
        "track 1: %B4539148803436467^DOE/JOHN^2709101?",
        "CREDIT_CARD_MAGNETIC_STRIPE",
        "%B4539148803436467^DOE/JOHN^2709101?",
    );
    lacks(
        "track 1: %B4539148803436468^DOE/JOHN^2709101?",
        "CREDIT_CARD_MAGNETIC_STRIPE",
    );
    has("DNI 12345678Z", "SPAIN_DNI_NUMBER", "12345678Z");
    lacks("DNI 12345678A", "SPAIN_DNI_NUMBER");
    has("NIE X1234567L", "SPAIN_NIE_NUMBER", "X1234567L");
    lacks("NIE X1234567A", "SPAIN_NIE_NUMBER");
    has(
        "numero de seguridad social 281234567840",
        "SPAIN_SOCIAL_SECURITY_NUMBER",
        "281234567840",
    );
    has(
        "NIR 2 84 12 76 451 089 93",
        "FRANCE_NATIONAL_IDENTIFICATION_NUMBER",
        "2 84 12 76 451 089 93",
    );
    lacks(
        "NIR 2 84 12 76 451 089 94",
        "FRANCE_NATIONAL_IDENTIFICATION_NUMBER",
    );
    has(
        "Personalausweis T220001293",
        "GERMANY_NATIONAL_IDENTIFICATION_NUMBER",
        "T220001293",
    );
    lacks(
        "Personalausweis T220001294",
        "GERMANY_NATIONAL_IDENTIFICATION_NUMBER",
    );
    has(
        "TFN 123 456 782",
        "AUSTRALIA_TAX_FILE_NUMBER",
        "123 456 782",
    );
    lacks("TFN 123 456 783", "AUSTRALIA_TAX_FILE_NUMBER");
    has(
        "driving licence MORGA753116SM9IJ",
        "UK_DRIVERS_LICENSE",
        "MORGA753116SM9IJ",
    );
    has(
        "PAN card ABCPE1234F",
        "INDIA_PERMANENT_ACCOUNT_NUMBER",
        "ABCPE1234F",
    );
    has("passeport 12AB34567", "FRANCE_PASSPORT_NUMBER", "12AB34567");
    has(
        "codice fiscale RSSMRA85T10A562S",
        "ITALY_NATIONAL_IDENTIFICATION_NUMBER",
        "RSSMRA85T10A562S",
    );
    lacks(
        "reference RSSMRA85T10A562S",
        "ITALY_NATIONAL_IDENTIFICATION_NUMBER",
    );
}

#[test]
fn email_with_an_apostrophe_in_the_local_part_is_found_whole() {
    has(
        "write to o'connor.sean@example.ie today",
        "EMAIL_ADDRESS",
        "o'connor.sean@example.ie",
    );
    has(
        "'d'angelo@example.it'",
        "EMAIL_ADDRESS",
        "d'angelo@example.it",
    );
    // A string literal's prefix and quotes are not part of the address.
    has("x = b'ann@example.com'", "EMAIL_ADDRESS", "ann@example.com");
    has("rb'ann@example.com'", "EMAIL_ADDRESS", "ann@example.com");
    has("'ann@example.com'", "EMAIL_ADDRESS", "ann@example.com");
}

#[test]
fn italian_landline_is_italy_phone_number_with_its_prefix_not_a_french_number() {
    has(
        "Call Sofia at +39 06 1234 5678 tomorrow",
        "ITALY_PHONE_NUMBER",
        "+39 06 1234 5678",
    );
    lacks(
        "Call Sofia at +39 06 1234 5678 tomorrow",
        "FRANCE_PHONE_NUMBER",
    );
    has(
        "Telefono: +39 02 8765 4321",
        "ITALY_PHONE_NUMBER",
        "+39 02 8765 4321",
    );
    has(
        "mobile +39 347 123 4567",
        "ITALY_PHONE_NUMBER",
        "+39 347 123 4567",
    );
    has(
        "phone +33 1 23 45 67 89",
        "FRANCE_PHONE_NUMBER",
        "+33 1 23 45 67 89",
    );
}

/// Regression: the digits after a number's decimal point were reported as a card number
/// (`1,0.5943208249263128` gave CREDIT_CARD_NUMBER_(NO_KEYWORD); ~3% of random doubles), in
/// text, CSV, JSON Lines and Parquet float columns alike. A digit run after `<digit>.` is a
/// fraction, not an identifier.
#[test]
fn decimal_fractions_are_not_card_numbers() {
    let e = engine();
    // The same digits stand alone: a card (no keyword), so only the fraction is excluded.
    has(
        "ref 5943208249263128",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
        "5943208249263128",
    );
    for text in [
        "amount 0.5943208249263128",
        "id,amount\n1,0.5943208249263128\n",
        "{\"amount\":12.5943208249263128}\n",
        "card 0.5943208249263128",
        // Found by a user the day after: the decimal comma of European exports, and fractions
        // written without their leading zero.
        "id;score\n1;0,5943208249263128\n",
        "id,score\n1,.5943208249263128\n2,-.5943208249263128\n",
        "visa 0,5943208249263128",
    ] {
        let f = found(&e, text);
        assert!(
            !f.iter().any(|(t, _)| t.starts_with("CREDIT_CARD_NUMBER")),
            "{text:?}: {f:?}"
        );
    }
    // A card after an id in a comma-separated row is still a card.
    has(
        "id,card\n1,5943208249263128\n",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
        "5943208249263128",
    );
    for (name, data) in [
        ("a.csv", &b"id,amount\n1,0.5943208249263128\n"[..]),
        ("eu.csv", &b"id;score\n1;0,5943208249263128\n"[..]),
        ("a.jsonl", &b"{\"amount\":0.5943208249263128}\n"[..]),
    ] {
        let r = palisade_discovery::formats::archive::scan_object(&e, name, data, false);
        assert_eq!(r[0].outcome.as_ref().map(Vec::len), Ok(0), "{name}");
    }
}

#[test]
fn allowed_email_with_a_dotted_local_part_does_not_leave_its_tail_reported() {
    for allow in [
        palisade_discovery::custom::AllowList::Words {
            name: "ok".into(),
            words: vec!["alice.smith@example.com".into()],
        },
        palisade_discovery::custom::AllowList::Regex {
            name: "ok".into(),
            regex: "alice\\.smith@example\\.com".into(),
        },
    ] {
        let e = EngineBuilder::new().allow_list(allow).build().unwrap();
        let f = found(&e, "alice.smith@example.com and bob.jones@example.com");
        assert_eq!(f.len(), 1, "{f:?}");
    }
}

/// Regression: a keyword matched as the start of a longer word ("sin" in "Since", "exp" in
/// "Expenses", "tel" in "telemetry"), so ordinary prose made numbers near it findings.
#[test]
fn keywords_are_whole_words() {
    for (text, ty) in [
        (
            "Since 2019 we have shipped 130692544 units",
            "CANADA_SOCIAL_INSURANCE_NUMBER",
        ),
        (
            "Expenses for 03/2024 were approved",
            "CREDIT_CARD_EXPIRATION",
        ),
        ("the telemetry of order 2125550143 arrived", "PHONE_NUMBER"),
        (
            "Tiny batch 912-70-1234 shipped",
            "USA_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        ),
    ] {
        lacks(text, ty);
    }
    // The whole word still counts, and so does one ending in punctuation.
    has(
        "SIN: 130692544",
        "CANADA_SOCIAL_INSURANCE_NUMBER",
        "130692544",
    );
    has("tel 212-555-0143", "PHONE_NUMBER", "212-555-0143");
    has(
        "SSN#536-22-1234",
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-1234",
    );
}

/// Regression: Macie matches a keyword with a space also written with `_`, `-` or nothing in
/// its place; `date_of_birth:` and `credit-card:` found nothing (or a card without keyword).
#[test]
fn keywords_with_spaces_match_their_joined_spellings() {
    has("date_of_birth: 03/14/1985", "DATE_OF_BIRTH", "03/14/1985");
    has("date-of-birth 03/14/1985", "DATE_OF_BIRTH", "03/14/1985");
    has(
        "social_security: 536-22-1234",
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-1234",
    );
    has(
        "credit-card: 4929395628908539",
        "CREDIT_CARD_NUMBER",
        "4929395628908539",
    );
}

/// Regression: a keyword inside a column name's word counted (`business_id` carried "sin",
/// `incident_id` "cid", `listing_id` "tin"); a name spelled without spaces (`creditcard`) carried nothing.
#[test]
fn column_names_carry_keywords_as_words() {
    let e = engine();
    let ids = |names: &[&str]| e.keywords_in_names(names);
    for name in ["business_id", "incident_id", "listing_id", "meeting_id"] {
        assert!(ids(&[name]).is_empty(), "{name} carries a keyword");
    }
    for name in [
        "creditcard",
        "CardNumber",
        "date_of_birth",
        "customer_ssn",
        "SSN",
    ] {
        assert!(!ids(&[name]).is_empty(), "{name} carries no keyword");
    }
}

/// Regression: a US number in E.164 (`+12125550143`) was never found: the pattern wanted a word
/// boundary between `+1` and the area code, where two digits meet.
#[test]
fn us_phone_numbers_in_e164() {
    has("mobile: +12125550143", "PHONE_NUMBER", "+12125550143");
    has("phone +1 212 555 0143", "PHONE_NUMBER", "+1 212 555 0143");
    has("tel (212) 555-0143", "PHONE_NUMBER", "(212) 555-0143");
}

/// Regression: a token after a secret's keyword was reported as GENERIC_SECRET, whose match
/// began at the keyword and hid the token's own identifier.
#[test]
fn specific_credentials_win_over_a_generic_secret() {
    has(
        "token: ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "GITHUB_TOKEN",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    );
    lacks(
        "token: ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "GENERIC_SECRET",
    );
    has(
        "aws_access_key_id = AKIA2E3A4F5B6C7D2E3F",
        "AWS_ACCESS_KEY_ID",
        "AKIA2E3A4F5B6C7D2E3F",
    );
    has(
        "password: Xy7-hunter2-correct-horse",
        "GENERIC_SECRET",
        "Xy7-hunter2-correct-horse",
    );
}

/// Regression: a private key kept on one line with escaped newlines, as .env files, YAML and
/// logs hold it, was not found (the body's class had no backslash).
#[test]
fn private_keys_with_escaped_newlines() {
    let key = r"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    let text = format!("GOOGLE_PRIVATE_KEY=\"{key}\"");
    let e = engine();
    let f = found(&e, &text);
    assert!(
        f.iter()
            .any(|(t, v)| t == "PKCS" && v.starts_with("-----BEGIN") && v.ends_with("KEY-----")),
        "{f:?}"
    );
}

/// Regression: four parts of a longer dotted number (an SNMP OID) were reported as an IPv4
/// address.
#[test]
fn dotted_numbers_longer_than_an_address_are_not_addresses() {
    lacks("OID 1.3.6.1.2.1.1.1.0 is sysDescr", "IP_ADDRESS");
    has(
        "Login from 10.1.2.3. Then nothing.",
        "IP_ADDRESS",
        "10.1.2.3",
    );
}

/// Regression: an address whose local part has non-ASCII letters was cut at the first of them
/// (`ller@beispiel.de`), so masking left the start of the name in the clear.
#[test]
fn email_local_parts_with_non_ascii_letters_are_whole() {
    has(
        "Kontakt: müller@beispiel.de bitte",
        "EMAIL_ADDRESS",
        "müller@beispiel.de",
    );
    has(
        "write to jürgen.öz@example.com.",
        "EMAIL_ADDRESS",
        "jürgen.öz@example.com",
    );
}

/// Regression: AWS's documentation key id, which AWS_ACCESS_KEY_ID leaves out, was reported as
/// GENERIC_SECRET when it followed a secret's keyword.
#[test]
fn aws_documentation_placeholders_are_no_generic_secret() {
    lacks("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "GENERIC_SECRET");
    lacks(
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "AWS_ACCESS_KEY_ID",
    );
}

/// Regression: a date of birth with the year first and slashes (`1985/03/14`), or a month's
/// name between dashes (`14-Mar-1985`), was missed.
#[test]
fn dates_of_birth_in_more_formats() {
    has("DOB: 14-Mar-1985", "DATE_OF_BIRTH", "14-Mar-1985");
    has("DOB: 1985/03/14", "DATE_OF_BIRTH", "1985/03/14");
    has("date of birth 1985-03-14", "DATE_OF_BIRTH", "1985-03-14");
    lacks("DOB: 1985/13/40", "DATE_OF_BIRTH");
}

/// Regression: keyword distance was counted in bytes, not Macie's characters, so a keyword 30
/// characters of accented or CJK text away (up to 120 bytes) was missed.
#[test]
fn keyword_distance_counts_characters_not_bytes() {
    // 25 characters between the keyword and the value, 75 bytes of them (3 bytes each).
    let gap = "番".repeat(25);
    has(
        &format!("SSN {gap} 536-22-1234"),
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-1234",
    );
    // After the value, too.
    has(
        &format!("536-22-1234 {gap} SSN"),
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-1234",
    );
    // 35 characters is beyond the distance in any encoding.
    lacks(
        &format!("SSN {} 536-22-1234", "é".repeat(35)),
        "USA_SOCIAL_SECURITY_NUMBER",
    );
    has(
        &format!("SSN {} 536-22-1234", "é".repeat(28)),
        "USA_SOCIAL_SECURITY_NUMBER",
        "536-22-1234",
    );
}

/// Regressions from a scan of source trees, man pages and documentation (review of
/// 2026-12-04): each of these was reported.
#[test]
fn false_positives_found_in_real_world_text() {
    // A 16-digit window of a longer grouped run (a hex dump line, a numeric table).
    lacks(
        "00000000: 2e54 4820 5858 4420 3120 2241 2020 0a0a  .TH XXD 1",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
    );
    lacks(
        "1234 5858 4420 3120 2241",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
    );
    has(
        "paid with 4929 3956 2890 8539 today",
        "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
        "4929 3956 2890 8539",
    );
    // Numbers next to a card that are no part of a grouped run: a time, a row number, an
    // expiry, a security code.
    for text in [
        "2024-01-15 10:32:05 4929 3956 2890 8539 approved",
        "1 4929 3956 2890 8539",
        "4929 3956 2890 8539 12/27",
        "4929 3956 2890 8539 123",
        "4929 3956 2890 8539 feed",
    ] {
        has(
            text,
            "CREDIT_CARD_NUMBER_(NO_KEYWORD)",
            "4929 3956 2890 8539",
        );
    }
    // The middle of a full date is no card expiry, nor its year a security code.
    lacks(
        "$Id: clear.1,v 1.27 2022/02/12 20:07:29 tom Exp $",
        "CREDIT_CARD_EXPIRATION",
    );
    lacks("cvv: see 2021-10-09", "CREDIT_CARD_SECURITY_CODE");
    has("exp 09/27", "CREDIT_CARD_EXPIRATION", "09/27");
    // Colon-separated hex that goes on, or holds no digit, is no IPv6 address.
    lacks(
        "SHA1 Fingerprint=5E:8D:C4:AD:E7:AF:6E:27:74:1A:B6:47:99:E8:D4:5D:1B:7C:2D",
        "IP_ADDRESS",
    );
    lacks("use aead::Aad;", "IP_ADDRESS");
    has(
        "listen on fe80::1ff:fe23:4567:890a now",
        "IP_ADDRESS",
        "fe80::1ff:fe23:4567:890a",
    );
    // AWS's documentation keys, in their variants.
    lacks(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_CREDENTIALS",
    );
    lacks("key ASIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY_ID");
    // A key block without key material.
    lacks(
        "-----BEGIN RSA PRIVATE KEY-----\nkey omitted for security reasons\n-----END RSA PRIVATE KEY-----",
        "PKCS",
    );
    // Another country's word for a phone unlocks only that country's numbers.
    lacks(
        "=item Octal number > 037777777777 non-portable",
        "UK_PHONE_NUMBER",
    );
    has(
        "portable : 06 12 34 56 78",
        "FRANCE_PHONE_NUMBER",
        "06 12 34 56 78",
    );
    // A street or a product title is no person.
    lacks(
        "Foundation, Inc., 51 Franklin St, Fifth Floor, Boston",
        "NAME",
    );
    lacks("see the Aurora User Guide", "NAME");
    // A surname is whole through its non-ASCII letters (masking left `èvre` in the clear).
    has(
        "Reported by Vincent Lefèvre today",
        "NAME",
        "Vincent Lefèvre",
    );
    has("Thanks to Juan José for this", "NAME", "Juan José");
    // Script changes are word boundaries: a name next to CJK text is found, and alone.
    has("請聯系John Smith先生", "NAME", "John Smith");
}
