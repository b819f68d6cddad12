//! `carnet`: parse, call the library, print. Errors are one line on stderr.

mod audit;
mod members;
mod node;
mod org;
mod out;
mod submitted;
mod trade;
mod web;

use clap::{Parser, Subcommand};
use out::Out;
use std::path::PathBuf;
use trade::MemberArgs;

#[derive(Parser)]
#[command(
    name = "carnet",
    version,
    about = "Federated peer-to-peer exchange of business contacts"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Print only the id of what the command made (a listing, an event, a member
    /// key), for shell scripts: `L=$(carnet -q contact add …)`.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(flatten)]
    member: MemberArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create this organisation: its org key, data directory and, unless joining an
    /// existing network with --genesis, a new network.
    Init(org::InitArgs),
    /// Run or inspect this organisation's node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Org-level network membership.
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Enroll members and grant them points (org operators).
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Contribute cards.
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Search listings (teasers only).
    Search(trade::SearchArgs),
    /// Buy a card; the contributor's org node delivers it sealed to you.
    Buy {
        listing: String,
        /// Most points you agree to pay.
        #[arg(long, default_value_t = 10)]
        max_price: u64,
        /// Seconds to wait, for a listing given by its full id to reach your node and
        /// then for the delivery, before returning.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Decrypt a card you bought and check it against its listing.
    Show { listing: String },
    /// Cards you bought and their status.
    Purchases,
    /// Write the cards you bought as vCard or CSV.
    Export {
        #[arg(long, value_enum, default_value = "vcard")]
        format: trade::ExportFormat,
        /// File to write [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Report bad data on a card you bought.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Vote a company's size and revenue ranges.
    Vote {
        #[command(subcommand)]
        command: VoteCommand,
    },
    /// The crowd's view of a company: median ranges and number of votes.
    Company { domain: String },
    /// Your points (or another account's).
    Balance { account: Option<String> },
    /// Every point movement with the event that caused it.
    History { account: Option<String> },
    /// Without REFERRER: print your referral code. With it: name who referred you.
    Referral { referrer: Option<String> },
    /// Give points of yours to another member (their key or key file).
    Transfer { to: String, points: u64 },
    /// Record a GDPR erasure for an email (org operators): all nodes drop the
    /// listing and refuse the address from then on.
    Optout {
        email: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Dispute a bounce report on one of your org's members' cards (org operators),
    /// within the bounce window: the finding is published beside the report, and
    /// auditors are shown both. Balances do not change.
    Dispute {
        /// Content id of the BounceReport.
        report_id: String,
        /// What your org found (at most 256 bytes), e.g. "the MX accepted mail to
        /// this address on the same day".
        #[arg(long)]
        finding: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Show the member key in use.
    Whoami,
    /// The web app your org node serves (docs/web.md).
    Web {
        #[command(subcommand)]
        command: WebCommand,
    },
    /// Export and verify penalty audit bundles (docs/audit.md).
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

#[derive(Subcommand)]
enum WebCommand {
    /// Turn on sign-in to the web app, or change its password: your key is sealed under
    /// the password here and the sealed key sent to your org node.
    Password {
        /// Read the password from the first line of standard input (for scripts)
        /// instead of asking twice on the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Show the network's rules (from its genesis) and how many orgs may be down
    /// while settlement goes on.
    Rules(org::RulesArgs),
    /// Vote to replace an org key: ORG_PUBKEY by NEW_PUBKEY, or, with neither, this
    /// org's own key by a new one (written to org.key.next in the data directory).
    Rotate {
        #[arg(requires = "new_pubkey")]
        org_pubkey: Option<String>,
        new_pubkey: Option<String>,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Vote to evict an org (a quorum of the other orgs must vote); its later org
    /// events are void and its votes and signatures stop counting.
    Evict {
        org_pubkey: String,
        /// Why, published with the vote (at most 256 bytes).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Vote to admit another org (a quorum of the network's orgs must vote).
    Admit {
        org_pubkey: String,
        /// The org's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Create a member key file and enroll it with this org.
    New {
        name: String,
        /// Where to write the member's key file [default: ./NAME.key].
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// This org's members: keys, handles, status and points.
    List {
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Give a member points (e.g. for a subscription).
    Grant {
        /// The member's key (64 hex digits), key file, or handle.
        member: String,
        points: u64,
        #[arg(long, default_value = "")]
        memo: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
    /// Revoke a member: its key can sign nothing more (its cards stay listed).
    Revoke {
        /// The member's key (64 hex digits), key file, or handle.
        member: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        admin: org::AdminArgs,
    },
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Contribute one card.
    Add(trade::ContactFields),
    /// Change a card you contributed (its title, city, email or channels: adding or
    /// removing the direct line or postal address is the card's availability signal).
    Update(trade::UpdateArgs),
    /// The cards you contributed, with their status on the network.
    List,
    /// Contribute every contact of a vCard (2.1, 3 or 4) or CSV file, in UTF-8, UTF-16
    /// or Windows-1252. Stopped, it resumes
    /// when run again: rows this key file already imported are skipped.
    Import {
        file: PathBuf,
        /// Country for numbers written without +country code (ISO 3166, e.g. FR).
        #[arg(long)]
        region: Option<String>,
        /// Check every row, asking the node which addresses are already listed, and
        /// print the summary without signing or publishing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// A permanent bounce: attach the bounce message (RFC 3464 .eml).
    Bounce {
        listing: String,
        #[arg(long)]
        dsn: PathBuf,
    },
    /// The card's direct line is a mobile number.
    Mobile { listing: String },
}

#[derive(Subcommand)]
enum VoteCommand {
    Company {
        domain: String,
        /// One of 1-10, 11-50, 51-200, 201-1000, 1001-5000, 5001-10000, 10001+.
        #[arg(long)]
        employees: String,
        /// One of 0-1M, 1M-10M, 10M-50M, 50M-100M, 100M-500M, 500M-1B, 1B+.
        #[arg(long)]
        revenue: String,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Start the node; on first run, create its org key and a one-org network.
    Run(node::RunArgs),
    /// What this node holds: events, settlement, storage health, the network secret.
    Status(node::StatusArgs),
    /// The org key of this data directory, what another org's `network admit` takes.
    Key(node::NodeArgs),
    /// The admin token of this data directory: what the web app's operator sign-in
    /// and `--admin-token` take. Keep it secret.
    AdminToken(node::NodeArgs),
    /// The peers this node is connected to, and the org each proved it serves.
    Peers(node::NodeArgs),
    /// Where other nodes dial this one, one multiaddr a line ending in /p2p/PEER_ID:
    /// what another node's --bootstrap takes.
    Address(node::NodeArgs),
    /// The network's orgs, and the admissions, evictions and rotations under vote.
    Orgs(node::NodeArgs),
    /// Rebuild a damaged event store from what is intact (the node must be stopped);
    /// the node fetches the rest from its peers when it runs again.
    Repair {
        /// Data directory [default: the platform data dir + /carnet].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    let serving = matches!(
        cli.command,
        Command::Node {
            command: NodeCommand::Run(_)
        }
    );
    if !serving {
        stop_quietly_on_closed_pipe();
    }
    if let Err(e) = run(cli) {
        if json {
            println!("{}", error_json(&e));
        } else {
            eprintln!("carnet: {}", describe(&e));
        }
        std::process::exit(1);
    }
}

/// `carnet history | head -1`: once the reader has gone, the command stops as Unix
/// tools do (the default action of SIGPIPE) instead of panicking on its next write.
/// Not for `node run`, whose sockets must see a closed peer as an error, not a signal.
#[cfg(unix)]
fn stop_quietly_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; it only
    // restores the default action of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn stop_quietly_on_closed_pipe() {}

/// An error and its causes on one line, each said once: a cause whose words its
/// context already repeats is left out.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    describe_chain(e.chain())
}

/// [`describe`] for a plain error.
pub(crate) fn describe_error(e: &(dyn std::error::Error + 'static)) -> String {
    describe_chain(std::iter::successors(Some(e), |c| c.source()))
}

fn describe_chain<'a>(
    chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut out = String::new();
    for cause in chain {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// A failure as the one JSON document `--json` promises: `{"error": {"code",
/// "message"}}`, with the node's own code when the node refused.
fn error_json(e: &anyhow::Error) -> serde_json::Value {
    use carnet_client::api::ApiError;
    use carnet_client::member::MemberError;
    let api = e.chain().find_map(|c| {
        c.downcast_ref::<ApiError>()
            .or(match c.downcast_ref::<MemberError>() {
                Some(MemberError::Api(a)) => Some(a),
                _ => None,
            })
    });
    let moved = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<MemberError>(),
            Some(MemberError::ChainMoved(_))
        )
    });
    let code = match api {
        _ if moved => "chain_moved",
        Some(ApiError::Refused { code, .. }) => code.as_str(),
        Some(ApiError::Unreachable { .. }) => "unreachable",
        Some(ApiError::Decode { .. }) => "bad_answer",
        None => "error",
    };
    serde_json::json!({"error": {"code": code, "message": describe(e)}})
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    let m = &cli.member;
    match cli.command {
        Command::Init(a) => org::init(&a, out),
        Command::Network {
            command: NetworkCommand::Rules(a),
        } => org::rules(&a, out),
        Command::Network {
            command:
                NetworkCommand::Rotate {
                    org_pubkey,
                    new_pubkey,
                    admin,
                },
        } => {
            let keys = org_pubkey.as_deref().zip(new_pubkey.as_deref());
            org::rotate(&admin, m.api.as_deref(), keys, out)
        }
        Command::Network {
            command:
                NetworkCommand::Evict {
                    org_pubkey,
                    reason,
                    admin,
                },
        } => org::evict(&admin, m.api.as_deref(), &org_pubkey, &reason, out),
        Command::Network {
            command:
                NetworkCommand::Admit {
                    org_pubkey,
                    name,
                    admin,
                },
        } => org::admit(&admin, m.api.as_deref(), &org_pubkey, &name, out),
        Command::Member {
            command:
                MemberCommand::New {
                    name,
                    out: path,
                    admin,
                },
        } => members::member_new(&admin, m.api.as_deref(), &name, path.as_deref(), out),
        Command::Member {
            command:
                MemberCommand::Grant {
                    member,
                    points,
                    memo,
                    admin,
                },
        } => members::grant(&admin, m.api.as_deref(), &member, points, &memo, out),
        Command::Member {
            command: MemberCommand::List { admin },
        } => members::member_list(&admin, m.api.as_deref(), out),
        Command::Member {
            command:
                MemberCommand::Revoke {
                    member,
                    reason,
                    admin,
                },
        } => members::revoke(&admin, m.api.as_deref(), &member, &reason, out),
        Command::Contact {
            command: ContactCommand::Add(f),
        } => trade::contact_add(m, &f, out),
        Command::Contact {
            command: ContactCommand::Update(a),
        } => trade::contact_update(m, &a, out),
        Command::Contact {
            command: ContactCommand::List,
        } => trade::contact_list(m, out),
        Command::Contact {
            command:
                ContactCommand::Import {
                    file,
                    region,
                    dry_run,
                },
        } => {
            if !trade::contact_import(m, &file, region.as_deref(), dry_run, out)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Search(a) => trade::search(m, &a, out),
        Command::Buy {
            listing,
            max_price,
            wait,
        } => trade::buy(m, &listing, max_price, wait, out),
        Command::Show { listing } => trade::show(m, &listing, out),
        Command::Purchases => trade::purchases(m, out),
        Command::Export { format, out: path } => trade::export(m, format, path.as_deref(), out),
        Command::Report {
            command: ReportCommand::Bounce { listing, dsn },
        } => trade::report_bounce(m, &listing, &dsn, out),
        Command::Report {
            command: ReportCommand::Mobile { listing },
        } => trade::report_mobile(m, &listing, out),
        Command::Vote {
            command:
                VoteCommand::Company {
                    domain,
                    employees,
                    revenue,
                },
        } => trade::vote(m, &domain, &employees, &revenue, out),
        Command::Company { domain } => trade::company(m, &domain, out),
        Command::Balance { account } => trade::balance(m, account.as_deref(), out),
        Command::History { account } => trade::history(m, account.as_deref(), out),
        Command::Referral { referrer } => trade::referral(m, referrer.as_deref(), out),
        Command::Transfer { to, points } => trade::transfer(m, &to, points, out),
        Command::Optout { email, admin } => org::optout(&admin, m.api.as_deref(), &email, out),
        Command::Dispute {
            report_id,
            finding,
            admin,
        } => org::dispute(&admin, m.api.as_deref(), &report_id, &finding, out),
        Command::Whoami => trade::whoami(m, out),
        Command::Web {
            command: WebCommand::Password { password_stdin },
        } => web::password(m, password_stdin, out),
        Command::Audit { command } => {
            if !audit::run(command, cli.json, m)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Node {
            command: NodeCommand::Run(args),
        } => node::run(&args, cli.json),
        Command::Node {
            command: NodeCommand::Repair { data_dir },
        } => node::repair_node(&data_dir, cli.json),
        Command::Node {
            command: NodeCommand::Status(a),
        } => node::status(&a, m.api.as_deref(), out),
        Command::Node {
            command: NodeCommand::Key(a),
        } => node::key(&a, out),
        Command::Node {
            command: NodeCommand::AdminToken(a),
        } => node::admin_token(&a, out),
        Command::Node {
            command: NodeCommand::Peers(a),
        } => node::peers(&a, m.api.as_deref(), out),
        Command::Node {
            command: NodeCommand::Address(a),
        } => node::address(&a, m.api.as_deref(), out),
        Command::Node {
            command: NodeCommand::Orgs(a),
        } => node::orgs(&a, m.api.as_deref(), out),
    }
}
