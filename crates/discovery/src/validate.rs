//! Checksums and validity rules run on regex candidates only.
//!
//! Every function takes the raw candidate bytes (separators included) and never panics on odd
//! input: candidates come from the regex pass, but custom callers may hand in anything.

/// Up to 48 values kept on the stack: validators run on every candidate, and dense text has one
/// every few dozen bytes, so they must not allocate. Longer inputs are cut at 48, which no
/// identifier's length rules accept.
#[derive(Clone, Copy, Debug)]
pub struct Small<T: Copy + Default, const N: usize> {
    buf: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> Small<T, N> {
    fn new() -> Self {
        Small {
            buf: [T::default(); N],
            len: 0,
        }
    }

    fn push(&mut self, x: T) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = x;
            self.len += 1;
        }
    }
}

impl<T: Copy + Default, const N: usize> std::ops::Deref for Small<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Digits of `s` as numbers, separators dropped.
pub fn digits(s: &[u8]) -> Small<u8, 48> {
    let mut out = Small::new();
    for b in s.iter().filter(|b| b.is_ascii_digit()) {
        out.push(b - b'0');
    }
    out
}

/// Luhn (mod 10) over a digit sequence.
pub fn luhn(d: &[u8]) -> bool {
    if d.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Published test card numbers (Stripe, Adyen, Braintree, PayPal, card-scheme docs): Macie never
/// reports these, and neither do we, because they fill documentation and test fixtures.
const TEST_PANS: &[&str] = &[
    "4111111111111111",
    "4012888888881881",
    "4222222222222",
    "4242424242424242",
    "4000056655665556",
    "4000000000000002",
    "4000000000003220",
    "4000002500003155",
    "4000000000009995",
    "4000000000000077",
    "4000000000000093",
    "4000000000000010",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
    "4000000000000341",
    "4000000000000259",
    "4000000000003063",
    "4000002760003184",
    "4000008400001629",
    "4000003720000278",
    "4988438843884305",
    "4166676667666746",
    "4646464646464644",
    "4000620000000007",
    "4000060000000006",
    "4293189100000008",
    "4001590000000001",
    "4000180000000002",
    "4917610000000000",
    "4462030000000000",
    "4917300800000000",
    "4484070000000000",
    "4263982640269299",
    "4005519200000004",
    "4009348888881881",
    "4012000033330026",
    "4012000077777777",
    "4217651111111119",
    "4500600000000061",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "5425233430109903",
    "5555341244441115",
    "5577000055770004",
    "5136333333333335",
    "5585558555855583",
    "5454545454545454",
    "5431111111111111",
    "5500000000000004",
    "5019717010103742",
    "2223003122003222",
    "2222420000001113",
    "2223000048410010",
    "2223520043560014",
    "2221000000000009",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "370000000000002",
    "340000000000009",
    "371111111111114",
    "6011111111111117",
    "6011000990139424",
    "6011981111111113",
    "6011601160116611",
    "6011000000000004",
    "6445644564456445",
    "6555900000604105",
    "3530111333300000",
    "3566002020360505",
    "3566111111111113",
    "3569990010095841",
    "30569309025904",
    "38520000023237",
    "36227206271667",
    "3056930009020004",
    "30000000000004",
    "6200000000000005",
    "6205500000000000004",
    "6331101999990016",
    "6759649826438453",
    "6771798021000008",
    "6771798025000004",
    "5000000000000611",
];

/// Issuer identification number ranges and lengths of the schemes Macie names (Amex, Dankort,
/// Diners, Discover, Electron, JCB, Maestro, Mastercard, UnionPay, Visa).
pub fn card_issuer_ok(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x))
    };
    let p1 = prefix(1);
    let p2 = prefix(2);
    let p3 = prefix(3);
    let p4 = prefix(4);
    let p6 = prefix(6);
    match p1 {
        // Visa and Visa Electron.
        4 => matches!(n, 13 | 16 | 19),
        // Amex 34/37; JCB 3528–3589 (35xx accepted: generators and some issuers use the whole
        // block, and Luhn keeps noise out); Diners 300–305, 36, 38, 39.
        3 => {
            ((p2 == 34 || p2 == 37) && n == 15)
                || (p2 == 35 && (16..=19).contains(&n))
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&n))
        }
        // Mastercard 2221–2720.
        2 => (2221..=2720).contains(&p4) && n == 16,
        // Mastercard 51–55, Dankort 5019, Maestro 50 and 56–59.
        5 => {
            (n == 16 && ((51..=55).contains(&p2) || p4 == 5019))
                || ((p2 == 50 || (56..=59).contains(&p2)) && (16..=19).contains(&n))
        }
        // Discover 6011, 644–649, 65, 622126–622925; UnionPay 62; Maestro 60–69 (6304, 6759, 676770…).
        6 => {
            (16..=19).contains(&n)
                || ((13..=19).contains(&n) && (p2 == 63 || p2 == 67 || p6 == 676_770))
        }
        _ => false,
    }
}

/// A credit card number: 13–19 digits, consistent grouping, Luhn, a known issuer range, not a test
/// number and not one repeated digit.
pub fn credit_card(d: &[u8]) -> bool {
    if !(13..=19).contains(&d.len()) || !luhn(d) || !card_issuer_ok(d) {
        return false;
    }
    if d.iter().all(|&x| Some(&x) == d.first()) {
        return false;
    }
    // Compare digit by digit: no string is built for the common (not a test number) case.
    !TEST_PANS
        .iter()
        .any(|t| t.len() == d.len() && t.bytes().zip(d.iter()).all(|(c, &x)| c == b'0' + x))
}

/// Group lengths of a separated number, and whether all separators are the same byte.
pub fn groups(s: &[u8]) -> (Small<usize, 16>, bool) {
    let mut out = Small::new();
    let mut run = 0usize;
    let mut sep: Option<u8> = None;
    let mut consistent = true;
    for &b in s {
        if b.is_ascii_alphanumeric() {
            run += 1;
        } else {
            if run > 0 {
                out.push(run);
            }
            run = 0;
            match sep {
                None => sep = Some(b),
                Some(x) if x != b => consistent = false,
                Some(_) => {}
            }
        }
    }
    if run > 0 {
        out.push(run);
    }
    (out, consistent)
}

/// Card groupings seen in the wild: none, 4-4-4-4(-3), 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1..4.
pub fn card_grouping_ok(s: &[u8]) -> bool {
    let (g, consistent) = groups(s);
    if !consistent {
        return false;
    }
    match &*g {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] | [4, 4, 5] => true,
        [4, rest @ ..] => {
            let (last, mid) = match rest.split_last() {
                Some(x) => x,
                None => return false,
            };
            mid.iter().all(|&x| x == 4) && (1..=4).contains(last)
        }
        _ => false,
    }
}

/// Known ISO 13616 IBAN lengths, with the country name used in Macie's identifier ID.
pub const IBAN_COUNTRIES: &[(&str, usize, &str)] = &[
    ("AD", 24, "ANDORRA"),
    ("AE", 23, "UNITED_ARAB_EMIRATES"),
    ("AL", 28, "ALBANIA"),
    ("AT", 20, "AUSTRIA"),
    ("AZ", 28, "AZERBAIJAN"),
    ("BA", 20, "BOSNIA_AND_HERZEGOVINA"),
    ("BE", 16, "BELGIUM"),
    ("BG", 22, "BULGARIA"),
    ("BH", 22, "BAHRAIN"),
    ("BR", 29, "BRAZIL"),
    ("BY", 28, "BELARUS"),
    ("CH", 21, "SWITZERLAND"),
    ("CR", 22, "COSTA_RICA"),
    ("CY", 28, "CYPRUS"),
    ("CZ", 24, "CZECHIA"),
    ("DE", 22, "GERMANY"),
    ("DK", 18, "DENMARK"),
    ("DO", 28, "DOMINICAN_REPUBLIC"),
    ("EE", 20, "ESTONIA"),
    ("EG", 29, "EGYPT"),
    ("ES", 24, "SPAIN"),
    ("FI", 18, "FINLAND"),
    ("FO", 18, "FAROE_ISLANDS"),
    ("FR", 27, "FRANCE"),
    ("GB", 22, "UK"),
    ("GE", 22, "GEORGIA"),
    ("GI", 23, "GIBRALTAR"),
    ("GL", 18, "GREENLAND"),
    ("GR", 27, "GREECE"),
    ("GT", 28, "GUATEMALA"),
    ("HR", 21, "CROATIA"),
    ("HU", 28, "HUNGARY"),
    ("IE", 22, "IRELAND"),
    ("IL", 23, "ISRAEL"),
    ("IQ", 23, "IRAQ"),
    ("IS", 26, "ICELAND"),
    ("IT", 27, "ITALY"),
    ("JO", 30, "JORDAN"),
    ("KW", 30, "KUWAIT"),
    ("KZ", 20, "KAZAKHSTAN"),
    ("LB", 28, "LEBANON"),
    ("LC", 32, "SAINT_LUCIA"),
    ("LI", 21, "LIECHTENSTEIN"),
    ("LT", 20, "LITHUANIA"),
    ("LU", 20, "LUXEMBOURG"),
    ("LV", 21, "LATVIA"),
    ("MC", 27, "MONACO"),
    ("MD", 24, "MOLDOVA"),
    ("ME", 22, "MONTENEGRO"),
    ("MK", 19, "NORTH_MACEDONIA"),
    ("MR", 27, "MAURITANIA"),
    ("MT", 31, "MALTA"),
    ("MU", 30, "MAURITIUS"),
    ("NL", 18, "NETHERLANDS"),
    ("NO", 15, "NORWAY"),
    ("PK", 24, "PAKISTAN"),
    ("PL", 28, "POLAND"),
    ("PS", 29, "PALESTINE"),
    ("PT", 25, "PORTUGAL"),
    ("QA", 29, "QATAR"),
    ("RO", 24, "ROMANIA"),
    ("RS", 22, "SERBIA"),
    ("SA", 24, "SAUDI_ARABIA"),
    ("SC", 31, "SEYCHELLES"),
    ("SE", 24, "SWEDEN"),
    ("SI", 19, "SLOVENIA"),
    ("SK", 24, "SLOVAKIA"),
    ("SM", 27, "SAN_MARINO"),
    ("ST", 25, "SAO_TOME_AND_PRINCIPE"),
    ("SV", 28, "EL_SALVADOR"),
    ("TL", 23, "TIMOR_LESTE"),
    ("TN", 24, "TUNISIA"),
    ("TR", 26, "TURKEY"),
    ("UA", 29, "UKRAINE"),
    ("VA", 22, "VATICAN_CITY"),
    ("VG", 24, "VIRGIN_ISLANDS"),
    ("XK", 20, "KOSOVO"),
];

/// The ISO 7064 mod-97-10 check of an IBAN given without separators.
pub fn iban_mod97(compact: &[u8]) -> bool {
    if compact.len() < 5 {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &c in tail.iter().chain(head) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Looks up the country of an IBAN: (length, Macie country name).
pub fn iban_country(cc: &[u8]) -> Option<(usize, &'static str)> {
    IBAN_COUNTRIES
        .iter()
        .find(|(c, _, _)| c.as_bytes() == cc)
        .map(|&(_, n, name)| (n, name))
}

/// Verhoeff check (Aadhaar).
pub fn verhoeff(d: &[u8]) -> bool {
    const MUL: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const PERM: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 8, 7, 0, 6],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c: u8 = 0;
    for (i, &x) in d.iter().rev().enumerate() {
        let p = PERM
            .get(i % 8)
            .and_then(|row| row.get(usize::from(x)))
            .copied();
        let next = p.and_then(|p| MUL.get(usize::from(c)).and_then(|r| r.get(usize::from(p))));
        match next {
            Some(&v) => c = v,
            None => return false,
        }
    }
    !d.is_empty() && c == 0
}

/// NHS number mod-11: weights 10..2 over the first nine digits; a check of 10 is never issued.
pub fn nhs(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .take(9)
        .zip((2..=10u32).rev())
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    let check = 11 - (sum % 11);
    let check = if check == 11 { 0 } else { check };
    check != 10 && d.get(9).map(|&x| u32::from(x)) == Some(check)
}

/// US SSN validity: area not 000, 666 or 9xx; group not 00; serial not 0000; not an advertised sample.
pub fn ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let num = |a: usize, b: usize| -> u32 {
        d.get(a..b)
            .unwrap_or(&[])
            .iter()
            .fold(0, |acc, &x| acc * 10 + u32::from(x))
    };
    let (area, group, serial) = (num(0, 3), num(3, 5), num(5, 9));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    // Woolworth's wallet card, the 1990s ad numbers and the textbook example.
    let all = num(0, 9);
    !matches!(
        all,
        78_051_120 | 219_099_999 | 123_456_789 | 111_111_111 | 333_333_333
    )
}

/// US ITIN: 9xx, group 50–65, 70–88, 90–92 or 94–99.
pub fn itin(d: &[u8]) -> bool {
    if d.len() != 9 || d.first() != Some(&9) {
        return false;
    }
    let g = match (d.get(3), d.get(4)) {
        (Some(&a), Some(&b)) => u32::from(a) * 10 + u32::from(b),
        _ => return false,
    };
    matches!(g, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// ABA routing number: 3-7-1 weighted checksum, and a Federal Reserve prefix (00–12, 21–32, 61–72, 80).
pub fn aba(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let w = [3u32, 7, 1, 3, 7, 1, 3, 7, 1];
    let sum: u32 = d.iter().zip(w).map(|(&x, w)| u32::from(x) * w).sum();
    let p = match (d.first(), d.get(1)) {
        (Some(&a), Some(&b)) => u32::from(a) * 10 + u32::from(b),
        _ => return false,
    };
    sum.is_multiple_of(10) && matches!(p, 0..=12 | 21..=32 | 61..=72 | 80) && sum != 0
}

/// Brazilian CPF: two mod-11 check digits, and not one repeated digit.
pub fn cpf(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| Some(&x) == d.first()) {
        return false;
    }
    let check = |n: usize| -> u32 {
        let s: u32 = d
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, &x)| u32::from(x) * (n as u32 + 1 - i as u32))
            .sum();
        let r = (s * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    d.get(9).map(|&x| u32::from(x)) == Some(check(9))
        && d.get(10).map(|&x| u32::from(x)) == Some(check(10))
}

/// Brazilian CNPJ: two weighted mod-11 check digits.
pub fn cnpj(d: &[u8]) -> bool {
    if d.len() != 14 || d.iter().all(|&x| Some(&x) == d.first()) {
        return false;
    }
    let check = |w: &[u32]| -> u32 {
        let s: u32 = d.iter().zip(w).map(|(&x, &w)| u32::from(x) * w).sum();
        let r = s % 11;
        if r < 2 { 0 } else { 11 - r }
    };
    let w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let w2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    d.get(12).map(|&x| u32::from(x)) == Some(check(&w1))
        && d.get(13).map(|&x| u32::from(x)) == Some(check(&w2))
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Standard or URL-safe base64 decoding, lenient about padding; `None` when not base64.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// A valid calendar date with a plausible year for a birth date.
pub fn plausible_date(y: u32, m: u32, d: u32) -> bool {
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=dim).contains(&d) && (1900..=2100).contains(&y)
}

/// Canadian SIN: Luhn over nine digits, not starting with 0 or 8.
pub fn sin(d: &[u8]) -> bool {
    d.len() == 9 && !matches!(d.first(), Some(0) | Some(8)) && luhn(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_cards() {
        assert!(luhn(&digits(b"4539 1488 0343 6467")));
        assert!(credit_card(&digits(b"4539148803436467")));
        assert!(!credit_card(&digits(b"4539148803436468")));
        assert!(!credit_card(&digits(b"4111111111111111")));
        assert!(credit_card(&digits(b"3530 1113 3330 0018")));
        assert!(card_grouping_ok(b"4539 1488 0343 6467"));
        assert!(card_grouping_ok(b"3782-822463-10005"));
        assert!(!card_grouping_ok(b"4539-1488 0343-6467"));
        assert!(!card_grouping_ok(b"45 3914 8803 436467"));
    }

    #[test]
    fn iban_checks() {
        assert!(iban_mod97(b"DE89370400440532013000"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"DE89370400440532013001"));
        assert_eq!(iban_country(b"DE"), Some((22, "GERMANY")));
    }

    #[test]
    fn national_checks() {
        assert!(verhoeff(&digits(b"2341 2341 2346")));
        assert!(!verhoeff(&digits(b"2341 2341 2347")));
        assert!(nhs(&digits(b"943 476 5919")));
        assert!(!nhs(&digits(b"943 476 5918")));
        assert!(ssn(&digits(b"536-22-8901")));
        assert!(!ssn(&digits(b"078-05-1120")));
        assert!(!ssn(&digits(b"666-22-8901")));
        assert!(!ssn(&digits(b"536-00-8901")));
        assert!(itin(&digits(b"912-70-1234")));
        assert!(!itin(&digits(b"912-40-1234")));
        assert!(aba(&digits(b"011000015")));
        assert!(!aba(&digits(b"011000016")));
        assert!(cpf(&digits(b"529.982.247-25")));
        assert!(!cpf(&digits(b"529.982.247-26")));
        assert!(!cpf(&digits(b"111.111.111-11")));
        assert!(cnpj(&digits(b"11.222.333/0001-81")));
        assert!(!cnpj(&digits(b"11.222.333/0001-82")));
        assert!(sin(&digits(b"130 692 544")));
        assert!(!sin(&digits(b"046 454 286")), "0 is not an issued province");
        assert!(!sin(&digits(b"046 454 287")));
    }

    #[test]
    fn misc() {
        assert!(entropy(b"aaaaaaaa") < 0.1);
        assert!(entropy(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") > 4.0);
        assert_eq!(
            base64_decode(b"dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert!(plausible_date(2000, 2, 29));
        assert!(!plausible_date(1900, 2, 29));
    }
}
