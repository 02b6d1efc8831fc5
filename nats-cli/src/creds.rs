//! NKey and JWT authentication: `--nkey SEEDFILE` and `--creds FILE` (nats.go's
//! `NkeyOptionFromSeed` and `UserCredentials`).
//!
//! Both files are read and checked when the tool starts, before any server is contacted.
//! At each connect the server's `INFO` carries a `nonce`; `CONNECT` then carries the
//! ed25519 signature of the nonce's bytes (`sig`, URL-safe base64 without padding) and either
//! the public user key (`nkey`, for `--nkey`) or the user JWT (`jwt`, for `--creds`). Without
//! a nonce no `sig` is sent and the server decides.
//!
//! The seed never leaves this module: [`Credentials`]' `Debug` shows only the public key, and
//! no error message quotes the file's contents.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use nats_proto::ConnectInfo;
use nkeys::{KeyPair, KeyPairType};

use crate::Error;

/// What the client signs the server's nonce with.
#[derive(Clone)]
pub enum Credentials {
    /// `--nkey`: a user nkey; `CONNECT` carries its public key.
    Nkey(KeyPair),
    /// `--creds`: a user JWT and the seed of the user nkey it names; `CONNECT` carries the
    /// JWT.
    Jwt {
        /// The user JWT, sent as is.
        jwt: String,
        /// The user's key pair, from the file's seed block.
        key: KeyPair,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Nkey(key) => f.debug_tuple("Nkey").field(&key.public_key()).finish(),
            Credentials::Jwt { key, .. } => f
                .debug_struct("Jwt")
                .field("user", &key.public_key())
                .finish_non_exhaustive(),
        }
    }
}

/// The `BEGIN` line of a creds file's JWT block: `-----BEGIN NATS USER JWT-----`.
const JWT_BLOCK: &str = "NATS USER JWT";
/// The `BEGIN` line of a seed block: `-----BEGIN USER NKEY SEED-----`.
const SEED_BLOCK: &str = "NKEY SEED";

impl Credentials {
    /// Reads `--nkey SEEDFILE`: see [`Credentials::parse_nkey`].
    pub fn from_nkey_file(path: &Path) -> Result<Credentials, Error> {
        with_file(path, |text| Credentials::parse_nkey(text, path))
    }

    /// Reads `--creds FILE`: see [`Credentials::parse_creds`].
    pub fn from_creds_file(path: &Path) -> Result<Credentials, Error> {
        with_file(path, |text| Credentials::parse_creds(text, path))
    }

    /// A seed file's contents (`path` names it in errors): the seed of a seed block if there
    /// is one (a creds file works too), else the first line that looks like a seed (`SU…`,
    /// `SA…`, `SO…`; whitespace around it and other lines are ignored). It must be a valid
    /// user seed.
    pub fn parse_nkey(text: &str, path: &Path) -> Result<Credentials, Error> {
        let seed = block(text, SEED_BLOCK).or_else(|| {
            text.lines()
                .map(str::trim)
                .find(|line| ["SU", "SA", "SO"].iter().any(|p| line.starts_with(p)))
        });
        let seed = seed.ok_or_else(|| no_seed(path))?;
        Ok(Credentials::Nkey(user_key(seed, path)?))
    }

    /// A creds file's contents (`path` names it in errors): the first non-empty line after
    /// the `-----BEGIN NATS USER JWT-----` line is the JWT, the first non-empty line after
    /// `-----BEGIN USER NKEY SEED-----` the user seed (as nats.go finds them: the number of
    /// dashes does not matter). Both blocks are required and the seed must be a valid user
    /// seed.
    pub fn parse_creds(text: &str, path: &Path) -> Result<Credentials, Error> {
        let jwt = block(text, JWT_BLOCK).ok_or_else(|| {
            Error::Credentials(format!("no user JWT found in {}", path.display()))
        })?;
        let seed = block(text, SEED_BLOCK).ok_or_else(|| no_seed(path))?;
        Ok(Credentials::Jwt {
            jwt: jwt.to_string(),
            key: user_key(seed, path)?,
        })
    }

    /// The public user key (`U…`) these credentials log in as.
    pub fn public_key(&self) -> String {
        match self {
            Credentials::Nkey(key) | Credentials::Jwt { key, .. } => key.public_key(),
        }
    }

    /// Fills `connect`'s `nkey` or `jwt`, and `sig` when the server sent a `nonce`.
    pub(crate) fn sign_connect(&self, connect: &mut ConnectInfo, nonce: &str) -> Result<(), Error> {
        let key = match self {
            Credentials::Nkey(key) => {
                connect.nkey = key.public_key();
                key
            }
            Credentials::Jwt { jwt, key } => {
                connect.jwt = jwt.clone();
                key
            }
        };
        if !nonce.is_empty() {
            let sig = key
                .sign(nonce.as_bytes())
                .map_err(|_| Error::Credentials("cannot sign the server's nonce".into()))?;
            connect.sig = data_encoding::BASE64URL_NOPAD.encode(&sig);
        }
        Ok(())
    }
}

/// Runs `parse` on the text of `path`, then overwrites the bytes read (they hold a seed).
fn with_file<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, Error>) -> Result<T, Error> {
    let mut bytes = std::fs::read(path)
        .map_err(|err| Error::Credentials(crate::tls::open_error(path, &err)))?;
    let result = match String::from_utf8_lossy(&bytes) {
        Cow::Borrowed(text) => parse(text),
        Cow::Owned(_) => Err(no_seed(path)),
    };
    bytes.fill(0);
    drop(std::hint::black_box(bytes));
    result
}

/// The first non-empty line after the `BEGIN` line whose name contains `name`, unless that
/// line is another decoration (an empty block).
fn block<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|line| is_decoration(line) && line.contains("BEGIN") && line.contains(name))?;
    lines
        .find(|line| !line.is_empty())
        .filter(|line| !is_decoration(line))
}

/// A `-----BEGIN …-----` or `------END …------` line.
fn is_decoration(line: &str) -> bool {
    line.starts_with("---")
}

fn no_seed(path: &Path) -> Error {
    Error::Credentials(format!("no nkey seed found in {}", path.display()))
}

/// The key pair of a user seed; the error names the file, never the seed.
fn user_key(seed: &str, path: &Path) -> Result<KeyPair, Error> {
    let key = KeyPair::from_seed(seed)
        .map_err(|_| Error::Credentials(format!("invalid nkey seed in {}", path.display())))?;
    if key.key_pair_type() != KeyPairType::User {
        return Err(Error::Credentials(format!(
            "{}: not a valid nkey user seed",
            path.display()
        )));
    }
    Ok(key)
}

/// Test helpers (feature `testkit`): creds files and JWTs as `nsc` makes them, for
/// operator-mode servers.
#[cfg(any(test, feature = "testkit"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod test_jwt {
    use nkeys::KeyPair;

    /// A creds file's text for `jwt` and `seed`, decorated as `nsc` writes it.
    pub fn creds_file(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    /// A JWT whose issuer `issuer` vouches for `subject`: `nats` is the JSON object of the
    /// `nats` claim (its `type`, `version` and limits).
    pub fn encode(issuer: &KeyPair, subject: &str, name: &str, nats: &str) -> String {
        encode_with(issuer, subject, name, nats, "")
    }

    /// Unix seconds now, for `exp`, `nbf` and revocation times.
    pub fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64
    }

    /// Like [`encode`], with more top-level claims: `extra` is JSON members each followed
    /// by a comma (`"exp":123,"nbf":100,`); an `"iat":` in it replaces the current time.
    pub fn encode_with(
        issuer: &KeyPair,
        subject: &str,
        name: &str,
        nats: &str,
        extra: &str,
    ) -> String {
        let b64 = |bytes: &[u8]| data_encoding::BASE64URL_NOPAD.encode(bytes);
        let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let iat = if extra.contains("\"iat\":") {
            String::new()
        } else {
            format!("\"iat\":{},", now())
        };
        let jti = b64(&KeyPair::new_user().public_key().as_bytes()[..16]);
        let claims = format!(
            r#"{{"jti":"{jti}",{iat}{extra}"iss":"{}","sub":"{subject}","name":"{name}","nats":{nats}}}"#,
            issuer.public_key()
        );
        let signed = format!("{header}.{}", b64(claims.as_bytes()));
        let sig = issuer.sign(signed.as_bytes()).expect("sign JWT");
        format!("{signed}.{}", b64(&sig))
    }

    /// The `nats` claim of an account without limits.
    pub const ACCOUNT: &str = r#"{"type":"account","version":2,"limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1}}"#;
    /// The `nats` claim of a user without limits.
    pub const USER: &str = r#"{"type":"user","version":2,"subs":-1,"data":-1,"payload":-1}"#;
    /// The `nats` claim of an operator.
    pub const OPERATOR: &str = r#"{"type":"operator","version":2}"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("test.nk")
    }

    fn seed() -> (String, String) {
        let key = KeyPair::new_user();
        (key.seed().expect("seed"), key.public_key())
    }

    #[test]
    fn seed_files_take_the_seed_line_and_ignore_the_rest() {
        let (seed, public) = seed();
        for text in [
            seed.clone(),
            format!("\n  {seed}  \n"),
            format!("# my key\n{seed}\n"),
            format!("-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"),
        ] {
            let creds = Credentials::parse_nkey(&text, path()).expect("valid seed file");
            assert!(matches!(creds, Credentials::Nkey(_)));
            assert_eq!(creds.public_key(), public);
        }
    }

    #[test]
    fn seed_files_without_a_valid_user_seed_are_refused() {
        let (seed, _) = seed();
        let err = Credentials::parse_nkey("nothing here\n", path()).expect_err("no seed");
        assert_eq!(err.to_string(), "nats: no nkey seed found in test.nk");
        // A corrupted seed (checksum) and a truncated one.
        let mut bad = seed.clone().into_bytes();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        for text in [
            String::from_utf8(bad).expect("ascii"),
            seed[..20].to_string(),
        ] {
            let err = Credentials::parse_nkey(&text, path()).expect_err("bad seed");
            assert_eq!(err.to_string(), "nats: invalid nkey seed in test.nk");
            assert!(!err.to_string().contains(&text));
        }
        let account = KeyPair::new_account().seed().expect("seed");
        let err = Credentials::parse_nkey(&account, path()).expect_err("account seed");
        assert_eq!(err.to_string(), "nats: test.nk: not a valid nkey user seed");
    }

    #[test]
    fn creds_files_need_both_blocks() {
        let (seed, public) = seed();
        let creds = test_jwt::creds_file("eyJhbGc.eyJzdWIi.c2ln", &seed);
        match Credentials::parse_creds(&creds, path()).expect("valid creds") {
            Credentials::Jwt { jwt, key } => {
                assert_eq!(jwt, "eyJhbGc.eyJzdWIi.c2ln");
                assert_eq!(key.public_key(), public);
            }
            other => panic!("not JWT credentials: {other:?}"),
        }
        // Five or six dashes, blank lines inside a block, indentation.
        let loose = format!(
            "  ------BEGIN NATS USER JWT------\n\n  jwt.x.y\n-----END NATS USER JWT-----\n\
             ----BEGIN USER NKEY SEED----\r\n\r\n{seed}\r\n----END USER NKEY SEED----\r\n"
        );
        let parsed = Credentials::parse_creds(&loose, path()).expect("lenient");
        assert!(matches!(parsed, Credentials::Jwt { ref jwt, .. } if jwt == "jwt.x.y"));

        let seed_only = format!("-----BEGIN USER NKEY SEED-----\n{seed}\n");
        let err = Credentials::parse_creds(&seed_only, path()).expect_err("no JWT");
        assert_eq!(err.to_string(), "nats: no user JWT found in test.nk");
        let jwt_only = "-----BEGIN NATS USER JWT-----\na.b.c\n------END NATS USER JWT------\n";
        let err = Credentials::parse_creds(jwt_only, path()).expect_err("no seed");
        assert_eq!(err.to_string(), "nats: no nkey seed found in test.nk");
        let empty_block = format!(
            "-----BEGIN NATS USER JWT-----\n------END NATS USER JWT------\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        assert!(Credentials::parse_creds(&empty_block, path()).is_err());
        let err = Credentials::parse_creds(&test_jwt::creds_file("a.b.c", "SUAbad"), path())
            .expect_err("bad seed");
        assert_eq!(err.to_string(), "nats: invalid nkey seed in test.nk");
    }

    #[test]
    fn files_are_read_and_missing_ones_reported() {
        let err = Credentials::from_nkey_file(Path::new("/nonexistent/user.nk"))
            .expect_err("missing file");
        assert_eq!(
            err.to_string(),
            "nats: open /nonexistent/user.nk: no such file or directory"
        );
        let (seed, public) = seed();
        let file = std::env::temp_dir().join(format!("nats-cli-seed-{}", std::process::id()));
        std::fs::write(&file, format!("{seed}\n")).expect("write seed");
        let read = Credentials::from_nkey_file(&file);
        let _ = std::fs::remove_file(&file);
        assert_eq!(read.expect("seed file").public_key(), public);
    }

    #[test]
    fn connect_carries_key_and_signature_but_never_the_seed() {
        let (seed, public) = seed();
        let nkey = Credentials::parse_nkey(&seed, path()).expect("seed");
        let mut connect = ConnectInfo::default();
        nkey.sign_connect(&mut connect, "nonce-123").expect("sign");
        assert_eq!(connect.nkey, public);
        assert!(connect.jwt.is_empty());
        let sig = data_encoding::BASE64URL_NOPAD
            .decode(connect.sig.as_bytes())
            .expect("URL-safe base64 without padding");
        let verifier = KeyPair::from_public_key(&public).expect("public key");
        assert!(verifier.verify(b"nonce-123", &sig).is_ok());
        assert!(!format!("{nkey:?}").contains(&seed));

        let creds =
            Credentials::parse_creds(&test_jwt::creds_file("a.b.c", &seed), path()).expect("creds");
        let mut connect = ConnectInfo::default();
        creds.sign_connect(&mut connect, "").expect("no nonce");
        assert_eq!(connect.jwt, "a.b.c");
        assert!(connect.nkey.is_empty() && connect.sig.is_empty());
        assert!(!format!("{creds:?}").contains(&seed));
    }
}
