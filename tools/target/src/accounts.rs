//! The accounts the emulated music API accepts: the `--accounts` CSV file
//! (header row `username,password`, one account a row), its parser and the
//! checks every account list passes, whether it came from a file or from a
//! library caller's `TargetConfig::accounts`. Logging in is `music`'s business.
//!
//! The CSV dialect: blank lines are skipped; a field may be double-quoted
//! (a `""` inside stands for one quote, and commas inside are kept); spaces
//! and tabs around an unquoted field are trimmed; a UTF-8 byte-order mark and
//! CRLF line ends are accepted. Quoted fields cannot span lines.

use std::collections::HashSet;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// The most accounts one server holds.
pub const ACCOUNTS_MAX: usize = 100_000;

/// The longest username or password, in bytes.
pub const FIELD_BYTES_MAX: usize = 256;

/// The largest accounts file read, in bytes.
pub const FILE_BYTES_MAX: u64 = 16 << 20;

/// The header row the file must start with.
pub const HEADER: &str = "username,password";

/// Why an account list was refused; `Display` is one line naming the place.
#[derive(Debug, PartialEq, Eq)]
pub enum AccountsError {
    /// The file could not be read.
    Io(String),
    /// The file is larger than `FILE_BYTES_MAX`.
    TooLarge,
    /// The file is not UTF-8.
    NotUtf8,
    /// The first non-blank line is not the header row.
    MissingHeader,
    /// A row that is not two well-formed fields.
    BadRow {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same username twice.
    Duplicate(String),
    /// No account rows at all.
    Empty,
    /// More than `ACCOUNTS_MAX` accounts.
    TooMany(usize),
    /// An account with an empty or over-long username or password (from a library caller).
    BadAccount {
        /// The 0-based position in the list.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountsError::Io(err) => write!(f, "cannot read it: {err}"),
            AccountsError::TooLarge => write!(f, "larger than {FILE_BYTES_MAX} bytes"),
            AccountsError::NotUtf8 => write!(f, "not UTF-8 text"),
            AccountsError::MissingHeader => write!(f, "the first line must be `{HEADER}`"),
            AccountsError::BadRow { line, reason } => write!(f, "line {line}: {reason}"),
            AccountsError::Duplicate(name) => write!(f, "username {name:?} appears twice"),
            AccountsError::Empty => write!(f, "no accounts after the header"),
            AccountsError::TooMany(n) => write!(f, "{n} accounts, at most {ACCOUNTS_MAX}"),
            AccountsError::BadAccount { index, reason } => write!(f, "account {index}: {reason}"),
        }
    }
}

impl std::error::Error for AccountsError {}

/// Reads and parses an accounts file.
pub fn load(path: &Path) -> Result<Vec<(String, String)>, AccountsError> {
    let file = std::fs::File::open(path).map_err(|err| AccountsError::Io(err.to_string()))?;
    let mut bytes = Vec::new();
    file.take(FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| AccountsError::Io(err.to_string()))?;
    if bytes.len() as u64 > FILE_BYTES_MAX {
        return Err(AccountsError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| AccountsError::NotUtf8)?;
    parse(&text)
}

/// Parses the text of an accounts file into (username, password) pairs, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, AccountsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty());
    let header = rows.next().ok_or(AccountsError::MissingHeader)?;
    let header_fields = split_row(header.1).map_err(|_| AccountsError::MissingHeader)?;
    if !matches!(header_fields.as_slice(), [u, p] if u == "username" && p == "password") {
        return Err(AccountsError::MissingHeader);
    }
    let mut accounts = Vec::new();
    for (line, row) in rows {
        let fields = split_row(row).map_err(|reason| AccountsError::BadRow { line, reason })?;
        let [username, password]: [String; 2] =
            fields.try_into().map_err(|_| AccountsError::BadRow {
                line,
                reason: "expected two fields, `username,password`",
            })?;
        if let Err(reason) = check_fields(&username, &password) {
            return Err(AccountsError::BadRow { line, reason });
        }
        if accounts.len() == ACCOUNTS_MAX {
            return Err(AccountsError::TooMany(accounts.len() + 1));
        }
        accounts.push((username, password));
    }
    if accounts.is_empty() {
        return Err(AccountsError::Empty);
    }
    validate(&accounts)?;
    Ok(accounts)
}

/// Checks a list of accounts: at most `ACCOUNTS_MAX`, every field non-empty
/// and short, no username twice. An empty list is fine here (no one can log
/// in); only a file must hold at least one account.
pub fn validate(accounts: &[(String, String)]) -> Result<(), AccountsError> {
    if accounts.len() > ACCOUNTS_MAX {
        return Err(AccountsError::TooMany(accounts.len()));
    }
    let mut seen = HashSet::with_capacity(accounts.len());
    for (index, (username, password)) in accounts.iter().enumerate() {
        check_fields(username, password)
            .map_err(|reason| AccountsError::BadAccount { index, reason })?;
        if !seen.insert(username.as_str()) {
            return Err(AccountsError::Duplicate(username.clone()));
        }
    }
    Ok(())
}

fn check_fields(username: &str, password: &str) -> Result<(), &'static str> {
    if username.is_empty() {
        return Err("empty username");
    }
    if password.is_empty() {
        return Err("empty password");
    }
    if username.len() > FIELD_BYTES_MAX || password.len() > FIELD_BYTES_MAX {
        return Err("username or password longer than 256 bytes");
    }
    Ok(())
}

/// Splits one CSV row into fields (see the module doc for the dialect).
fn split_row(row: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut rest = row;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let (field, after) = if let Some(quoted) = trimmed.strip_prefix('"') {
            let (field, after) = split_quoted(quoted)?;
            let after = after.trim_start_matches([' ', '\t']);
            if !after.is_empty() && !after.starts_with(',') {
                return Err("text after a closing quote");
            }
            (field, after)
        } else {
            let end = trimmed.find(',').unwrap_or(trimmed.len());
            let field = trimmed[..end].trim_end_matches([' ', '\t']);
            if field.contains('"') {
                return Err("a quote inside an unquoted field");
            }
            (field.to_string(), &trimmed[end..])
        };
        fields.push(field);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(fields),
        }
    }
}

/// The content of a quoted field whose opening quote is already consumed,
/// and the text after its closing quote.
fn split_quoted(text: &str) -> Result<(String, &str), &'static str> {
    let mut field = String::new();
    let mut rest = text;
    loop {
        let quote = rest.find('"').ok_or("a quoted field is not closed")?;
        field.push_str(&rest[..quote]);
        rest = &rest[quote + 1..];
        match rest.strip_prefix('"') {
            Some(after) => {
                field.push('"');
                rest = after;
            }
            None => return Ok((field, rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Table tests of the CSV parser and the account checks, bad inputs included.
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn good_files() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "username,password\nalice,alice-pw\nbob,bob-pw\n",
                &[("alice", "alice-pw"), ("bob", "bob-pw")],
            ),
            (
                "\u{feff}username,password\r\nalice,pw\r\n\r\n",
                &[("alice", "pw")],
            ),
            (
                "\n  username , password\n alice ,\tpw \n",
                &[("alice", "pw")],
            ),
            (
                "username,password\n\"a,b\",\"p \"\"q\"\" \"\n",
                &[("a,b", "p \"q\" ")],
            ),
            ("username,password\ncarol,p=w;rd!", &[("carol", "p=w;rd!")]),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(pairs(want)), "{text:?}");
        }
    }

    #[test]
    fn bad_files_name_the_line() {
        let long = format!("username,password\nalice,{}\n", "p".repeat(257));
        let cases: &[(&str, &str)] = &[
            ("", "the first line must be `username,password`"),
            ("alice,pw\n", "the first line must be `username,password`"),
            (
                "user,pass\nalice,pw\n",
                "the first line must be `username,password`",
            ),
            ("username,password\n", "no accounts after the header"),
            ("username,password\nalice\n", "line 2: expected two fields"),
            (
                "username,password\n\nalice,pw,x\n",
                "line 3: expected two fields",
            ),
            ("username,password\n,pw\n", "line 2: empty username"),
            ("username,password\nalice,\n", "line 2: empty password"),
            (
                "username,password\n\"alice,pw\n",
                "line 2: a quoted field is not closed",
            ),
            (
                "username,password\n\"alice\"x,pw\n",
                "line 2: text after a closing quote",
            ),
            (
                "username,password\nal\"ice,pw\n",
                "line 2: a quote inside an unquoted field",
            ),
            (
                "username,password\nalice,a\nalice,b\n",
                "username \"alice\" appears twice",
            ),
            (&long, "line 2: username or password longer than 256 bytes"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with(want),
                "{text:?}: got {err:?}, want {want:?}"
            );
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn too_many_accounts() {
        let mut text = String::from("username,password\n");
        for i in 0..=ACCOUNTS_MAX {
            text.push_str(&format!("u{i},p\n"));
        }
        assert_eq!(parse(&text), Err(AccountsError::TooMany(ACCOUNTS_MAX + 1)));
    }

    #[test]
    fn library_lists_are_checked_too() {
        assert_eq!(validate(&[]), Ok(()));
        assert_eq!(validate(&pairs(&[("a", "p"), ("b", "q")])), Ok(()));
        assert_eq!(
            validate(&pairs(&[("a", "p"), ("", "q")])),
            Err(AccountsError::BadAccount {
                index: 1,
                reason: "empty username"
            })
        );
        assert_eq!(
            validate(&pairs(&[("a", "p"), ("a", "q")])),
            Err(AccountsError::Duplicate("a".into()))
        );
    }

    #[test]
    fn files_are_read_whole_and_missing_ones_fail() {
        let dir = std::env::temp_dir().join(format!("stampede-accounts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ok.csv");
        std::fs::write(&path, "username,password\nalice,alice-pw\n").unwrap();
        assert_eq!(load(&path), Ok(pairs(&[("alice", "alice-pw")])));
        let bad = dir.join("latin1.csv");
        std::fs::write(&bad, b"username,password\nj\xf6rg,pw\n").unwrap();
        assert_eq!(load(&bad), Err(AccountsError::NotUtf8));
        let missing = load(&dir.join("missing.csv")).unwrap_err();
        assert!(matches!(missing, AccountsError::Io(_)), "{missing:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
