//! Every API server certificate kubectl accepts, tried as a new user would: a kubeconfig whose
//! `certificate-authority-data` holds the server's own self-signed `CA:TRUE` certificate, or a
//! pinned leaf. Name and validity are still checked, a wrong certificate is still refused, and
//! every TLS failure (API server or collector) is one line saying what to change.

use super::{CLUSTER_ID, NS, Run, path_str, run_with};
use crate::support::apiserver::{ApiServer, Config};
use crate::support::collector::{Collector, CollectorConfig};
use crate::support::tls::TestCa;
use crate::support::util::TempDir;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn preview(kubeconfig: &str) -> Run {
    let args = ["report", "--dry-run", "--cluster-id", CLUSTER_ID];
    run_with(kubeconfig, &args, &[])
}

fn serving(ca: TestCa) -> ApiServer {
    ApiServer::start_with_tls(Config::default().with_nodes(3), ca)
}

#[test]
fn a_self_signed_ca_certificate_presented_by_the_api_server_is_accepted() {
    let names = ["127.0.0.1", "localhost"];
    let api = serving(TestCa::self_signed(
        "appliance apiserver",
        &names,
        true,
        false,
    ));
    let run = preview(&api.kubeconfig(Some(NS)));
    run.expect(0);
    assert!(run.stderr.contains("listed 3 nodes"), "{}", run.stderr);
}

#[test]
fn a_pinned_leaf_certificate_is_accepted() {
    let api = serving(TestCa::pinned_leaf("pinned apiserver"));
    preview(&api.kubeconfig(Some(NS))).expect(0);
}

/// The failed run's one line, after checking it was not retried.
fn refused(run: &Run) -> &str {
    run.expect(2);
    assert!(
        run.took < Duration::from_secs(30),
        "retried: {:?}",
        run.took
    );
    let line = run.error_line();
    assert_eq!(line.matches("TLS verification").count(), 1, "{line}");
    line
}

#[test]
fn wrong_expired_and_misnamed_certificates_are_refused_in_one_line() {
    // A kubeconfig trusting another certificate.
    let api = ApiServer::with_nodes(1);
    let stranger = TestCa::self_signed("someone else", &["127.0.0.1"], true, false);
    let run = preview(&api.kubeconfig_trusting(stranger.ca_pem(), Some(NS)));
    let line = refused(&run);
    let server = format!("the API server https://127.0.0.1:{}/", api.port());
    assert!(
        line.contains(&format!("get /version: TLS verification of {server} failed: its certificate is not signed by a CA trusted here"))
            && line.contains("UnknownIssuer")
            && line.contains("); set the kubeconfig cluster's certificate-authority-data (or certificate-authority) to the CA that signed it, or to the server's own certificate"),
        "{line}"
    );
    // The pinned certificate has expired.
    let api = serving(TestCa::self_signed("old", &["127.0.0.1"], true, true));
    let line = refused(&preview(&api.kubeconfig(Some(NS)))).to_string();
    assert!(
        line.contains("its certificate has expired (")
            && line.contains("renew the server's certificate"),
        "{line}"
    );
    // The pinned certificate names another host.
    let api = serving(TestCa::self_signed(
        "named",
        &["kube.internal.example"],
        true,
        false,
    ));
    let kubeconfig = api.kubeconfig(Some(NS));
    let line = refused(&preview(&kubeconfig)).to_string();
    assert!(
        line.contains("its certificate is not valid for this host name")
            && line.contains("tls-server-name"),
        "{line}"
    );
    // ... and is accepted for the name it has, as kubectl accepts it with tls-server-name.
    let server_line = format!("    server: {}\n", api.url());
    assert!(kubeconfig.contains(&server_line));
    let named = kubeconfig.replace(
        &server_line,
        &format!("{server_line}    tls-server-name: kube.internal.example\n"),
    );
    preview(&named).expect(0);
}

#[test]
fn collector_tls_failures_say_what_to_change() {
    let api = ApiServer::with_nodes(1);
    let dir = TempDir::new("collector-tls");
    for (ca, what, change) in [
        (
            TestCa::self_signed(
                "misnamed collector",
                &["collector.internal.example"],
                false,
                false,
            ),
            "its certificate is not valid for this host name",
            "use a host name the certificate names in --endpoint",
        ),
        (
            TestCa::self_signed("old collector", &["127.0.0.1"], false, true),
            "its certificate has expired",
            "renew the server's certificate",
        ),
    ] {
        let ca_file = dir.join("ca.pem");
        ca.write_ca_pem(&ca_file);
        let collector = Collector::start_with_tls(CollectorConfig::default(), Some(ca));
        let args = [
            "report",
            "--cluster-id",
            CLUSTER_ID,
            "--endpoint",
            &collector.url(),
            "--ca-file",
            path_str(&ca_file),
        ];
        let run = run_with(&api.kubeconfig(Some(NS)), &args, &[]);
        let line = refused(&run);
        assert!(
            line.contains(&format!(
                "TLS verification of the collector at {} failed: {what}",
                collector.url()
            )) && line.contains(change),
            "{line}"
        );
    }
}

/// An HTTP proxy that tunnels `CONNECT` requests on 127.0.0.1, recording each request's head.
struct Proxy {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let record = heads.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let record = record.clone();
                std::thread::spawn(move || tunnel(client, &record));
            }
        });
        Proxy { port, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Reads a `CONNECT host:port` request, connects there and copies both ways.
fn tunnel(client: TcpStream, record: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    record.lock().unwrap().push(head.clone());
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let Ok(server) = TcpStream::connect(&target) else {
        return;
    };
    let mut answer = client.try_clone().unwrap();
    answer
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client);
    std::thread::spawn(move || std::io::copy(&mut from_server, &mut to_client));
    let mut to_server = server;
    let _ = std::io::copy(&mut reader, &mut to_server);
}

#[test]
fn the_api_server_is_reached_through_the_kubeconfigs_http_proxy() {
    let api = ApiServer::with_nodes(4);
    let proxy = Proxy::start();
    let kubeconfig = api.kubeconfig(Some(NS));
    let server_line = format!("    server: {}\n", api.url());
    let proxied = kubeconfig.replace(
        &server_line,
        &format!(
            "{server_line}    proxy-url: http://me:p%40ss@127.0.0.1:{}\n",
            proxy.port
        ),
    );
    let run = preview(&proxied);
    run.expect(0);
    assert!(run.stderr.contains("listed 4 nodes"), "{}", run.stderr);
    let heads = proxy.heads();
    assert!(!heads.is_empty());
    for head in &heads {
        assert!(
            head.starts_with(&format!("CONNECT 127.0.0.1:{} HTTP/1.1", api.port())),
            "{head}"
        );
        // base64("me:p@ss"): the credentials percent-decoded, as kubectl sends them.
        assert!(head.contains("Basic bWU6cEBzcw=="), "{head}");
    }
}
