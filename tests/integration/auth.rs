//! Connecting to a NATS server that demands TLS with client certificates and a password, or
//! a token: the right settings deliver events end to end; a wrong password or an untrusted
//! server certificate fails with one line that says so.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use sluice_runtime::Runtime;
use sluice_runtime::nats::{self, Auth, ClientCert, ConnectionOptions, Tls};
use sluice_tests::{FunctionsDir, HostOptions, Manifest, NatsServer, WAIT, next_message};
use tempfile::TempDir;

const USER: &str = "sluice";
const PASSWORD: &str = "correct horse";

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, as PEM
/// files in a temporary folder.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder for certificates");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Sluice test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-signed CA");
        write(dir.path(), "ca.pem", &ca.pem());
        let leaves = [
            (
                "server",
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["sluice-client".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ];
        for (name, names, usage) in leaves {
            let key = KeyPair::generate().expect("leaf key");
            let mut params = CertificateParams::new(names).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).expect("signed leaf");
            write(dir.path(), &format!("{name}.pem"), &cert.pem());
            write(dir.path(), &format!("{name}-key.pem"), &key.serialize_pem());
        }
        Self { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// nats-server configuration: TLS with client certificates verified, and one user.
    fn server_conf(&self) -> String {
        format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n  timeout: 5\n}}\n\
             authorization {{\n  user: {USER:?}\n  password: {PASSWORD:?}\n}}\n",
            self.file("server.pem"),
            self.file("server-key.pem"),
            self.file("ca.pem"),
        )
    }

    /// Client settings trusting the CA, presenting the client certificate and logging in
    /// with `password`.
    fn options(&self, password: &str) -> ConnectionOptions {
        ConnectionOptions {
            auth: Auth::UserPassword {
                user: USER.to_owned(),
                password: password.to_owned(),
            },
            tls: Tls {
                ca: Some(self.file("ca.pem")),
                client: Some(ClientCert {
                    cert: self.file("client.pem"),
                    key: self.file("client-key.pem"),
                }),
                required: true,
            },
        }
    }
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).expect("write certificate file");
}

/// Starts a host on `dir` connecting to `server` with `options`. Not the `Sluice` fixture:
/// its plain client could not connect to these servers.
async fn start(
    server: &NatsServer,
    dir: &FunctionsDir,
    options: ConnectionOptions,
) -> anyhow::Result<Runtime> {
    let host = HostOptions::default().configure(move |config| config.nats_options = options.clone());
    host.try_start(server.url(), dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificate_and_password_delivers_events() {
    let pki = Pki::generate();
    let server = NatsServer::start_with_config(&pki.server_conf());
    let dir = FunctionsDir::new();
    let order_total = Manifest::new()
        .subjects(["orders.placed"])
        .publish(["orders.totalled"]);
    dir.add("order-total", "order-total", order_total);
    let host = start(&server, &dir, pki.options(PASSWORD))
        .await
        .expect("host starts");
    let client = nats::connect(&server.url(), &pki.options(PASSWORD))
        .await
        .expect("test client connects with TLS");
    let mut totals = client.subscribe("orders.totalled").await.unwrap();

    let order = json!({"id": "o-tls", "customer": "c-1", "items": [{"sku": "A", "qty": 3, "price": 100}]});
    client
        .publish("orders.placed", order.to_string().into())
        .await
        .unwrap();

    let message = next_message(&mut totals, WAIT, "OrderTotalled over TLS").await;
    let totalled: Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(totalled["order_id"], "o-tls");
    assert_eq!(totalled["total"], 300);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_authorization_violation() {
    let pki = Pki::generate();
    let server = NatsServer::start_with_config(&pki.server_conf());
    let dir = FunctionsDir::new();
    let Err(error) = start(&server, &dir, pki.options("wrong")).await else {
        panic!("a wrong password must not connect");
    };
    let message = format!("{error:#}");
    assert!(
        message.starts_with(&format!("cannot connect to NATS at {}: ", server.url())),
        "{message}"
    );
    assert!(message.contains("authorization violation"), "{message}");
    assert!(message.contains("--nats-password"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_fails_the_handshake() {
    let pki = Pki::generate();
    let server = NatsServer::start_with_config(&pki.server_conf());
    let dir = FunctionsDir::new();
    let mut options = pki.options(PASSWORD);
    options.tls.ca = None;
    let Err(error) = start(&server, &dir, options).await else {
        panic!("a server signed by an unknown CA must not be trusted");
    };
    let message = format!("{error:#}");
    assert!(
        message.starts_with(&format!("cannot connect to NATS at {}: ", server.url())),
        "{message}"
    );
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(message.contains("--tls-ca"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_accepted_and_a_wrong_one_refused() {
    let server = NatsServer::start_with_config("authorization {\n  token: \"s3cr3t-token\"\n}\n");
    let with = |token: &str| ConnectionOptions {
        auth: Auth::Token(token.to_owned()),
        tls: Tls::default(),
    };
    let client = nats::connect(&server.url(), &with("s3cr3t-token"))
        .await
        .expect("the right token connects");
    client.flush().await.expect("the server answers");

    let error = nats::connect(&server.url(), &with("guess")).await.unwrap_err();
    assert!(
        matches!(
            error,
            nats::ConnectError::Server {
                failure: nats::Failure::Authorization,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("authorization violation"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_are_used() {
    let server = NatsServer::start_with_config("authorization {\n  user: ana\n  password: pw\n}\n");
    let port = server.url().rsplit(':').next().unwrap().to_owned();
    let url = |credentials: &str| format!("nats://{credentials}@127.0.0.1:{port}");
    let client = nats::connect(&url("ana:pw"), &ConnectionOptions::default())
        .await
        .expect("user and password in the URL connect");
    client.flush().await.expect("the server answers");
    let error = nats::connect(&url("ana:wrong"), &ConnectionOptions::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("authorization violation"), "{error}");
    assert!(
        error.to_string().contains("nats://ana:***@") && !error.to_string().contains("wrong"),
        "the password is not repeated: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_list_connects_to_the_member_that_answers() {
    let server = NatsServer::start();
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let urls = format!("nats://127.0.0.1:{gone}, {}", server.url());
    let client = nats::connect(&urls, &ConnectionOptions::default())
        .await
        .expect("the live member of the list accepts");
    client.flush().await.expect("the server answers");
}

/// Writes the seed of `key` to a file the way `nk -gen user` output is kept: a comment line,
/// then the seed.
fn seed_file(dir: &Path, name: &str, key: &nkeys::KeyPair) -> PathBuf {
    let file = dir.join(name);
    let seed = key.seed().expect("a generated key has a seed");
    std::fs::write(&file, format!("# nkey seed of a Sluice test user\n{seed}\n")).expect("write seed file");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_user_is_accepted_and_a_wrong_seed_refused() {
    let user = nkeys::KeyPair::new_user();
    let server = NatsServer::start_with_config(&format!(
        "authorization {{\n  users = [ {{ nkey: {:?} }} ]\n}}\n",
        user.public_key()
    ));
    let keys = tempfile::tempdir().unwrap();
    let with = |file: PathBuf| ConnectionOptions {
        auth: Auth::NKey(file),
        tls: Tls::default(),
    };
    let right = with(seed_file(keys.path(), "user.nk", &user));
    let dir = FunctionsDir::new();
    dir.add("echo", "probe", Manifest::new().subjects(["in"]));
    let host = start(&server, &dir, right.clone())
        .await
        .expect("host starts with the nkey");
    let client = nats::connect(&server.url(), &right)
        .await
        .expect("test client connects with the nkey");
    let answer = tokio::time::timeout(
        WAIT,
        client.request("in", json!({"op": "echo"}).to_string().into()),
    )
    .await
    .expect("an answer in time");
    assert!(
        answer.is_ok(),
        "the host serves over the nkey connection: {answer:?}"
    );
    host.shutdown().await;

    let stranger = nkeys::KeyPair::new_user();
    let wrong = with(seed_file(keys.path(), "stranger.nk", &stranger));
    let Err(error) = start(&server, &FunctionsDir::new(), wrong).await else {
        panic!("a seed whose public key the server does not know must not connect");
    };
    let message = format!("{error:#}");
    assert!(
        message.starts_with(&format!("cannot connect to NATS at {}: ", server.url())),
        "{message}"
    );
    assert!(message.contains("authorization violation"), "{message}");
    assert!(message.contains("--nats-nkey"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}
