//! Configuration: defaults that work on one machine, overridden by an optional
//! TOML file (`MISSIVE_CONFIG`) and then by `MISSIVE_*` environment variables
//! (nested keys with `__`, e.g. `MISSIVE_PROJECTOR__BATCH_MAX=2000`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The app id UserSigs are bound to (Tencent SDKAppID).
    pub sdkappid: u64,
    /// HMAC key of UserSigs. Never logged: `SecretString` redacts itself.
    pub secret_key: SecretString,
    /// The identifier whose UserSig grants the REST admin API.
    pub admin_identifier: String,
    /// PostgreSQL connection string; may hold a password, so it is redacted too.
    pub database_url: SecretString,
    pub db_pool_size: usize,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub projector: ProjectorConfig,
    pub delivery: DeliveryConfig,
    pub permissions: PermissionsConfig,
    pub views: ViewsConfig,
    /// Names this process in events and logs; defaults to host + pid.
    pub instance_id: String,
    /// True when `instance_id` was configured (`MISSIVE_INSTANCE_ID`, a pod
    /// name): consumers then join their groups as static members, so a
    /// restart under the same name takes its partitions back at once. With
    /// the default name (new on every start) they join dynamically and leave
    /// on shutdown, so a restart never waits for the old member to expire.
    #[serde(skip)]
    pub stable_instance_id: bool,
    /// Offline push to the vendors (APNs, FCM, Huawei, Xiaomi, OPPO, vivo, Meizu).
    pub push: PushConfig,
    /// Hostile-input bounds and rate limits (docs/limits.md).
    pub limits: LimitsConfig,
    /// Third-party callbacks (webhooks) to the app server, as Tencent IM
    /// makes them (docs/callbacks.md).
    pub callbacks: CallbacksConfig,
    /// Account rules (docs/rest-api.md, "Accounts").
    pub accounts: AccountsConfig,
}

/// Third-party callbacks: one URL, a switch per command, the before-send
/// deadline and failure policy, and the after-callbacks' retries.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CallbacksConfig {
    /// The app server's callback URL; empty turns every callback off.
    pub url: String,
    /// Callback authentication token: when set, every request carries
    /// `RequestTime` and `Sign` = hex SHA-256 of token + RequestTime.
    pub token: Option<SecretString>,
    /// `C2C.CallbackBeforeSendMsg`: synchronous, on the send path.
    pub before_send_msg: bool,
    /// `C2C.CallbackAfterSendMsg`.
    pub after_send_msg: bool,
    /// `C2C.CallbackAfterMsgWithDraw` (recalls).
    pub after_msg_withdraw: bool,
    /// `C2C.CallbackAfterMsgReport` (read reports).
    pub after_msg_report: bool,
    /// `Sns.CallbackFriendAdd`.
    pub friend_add: bool,
    /// `Sns.CallbackFriendDelete`.
    pub friend_delete: bool,
    /// `Sns.CallbackBlackListAdd`.
    pub black_list_add: bool,
    /// `Sns.CallbackBlackListDelete`.
    pub black_list_delete: bool,
    /// `State.StateChange`: WebSocket sessions logging in, out, dropping.
    pub state_change: bool,
    /// How long a send waits for the before-send answer (Tencent: 2 s).
    pub before_send_timeout_ms: u64,
    /// No valid before-send answer in time: let the message through
    /// (true, Tencent's behaviour) or refuse it (false).
    pub before_send_fail_open: bool,
    /// Consumer group of the after-callbacks worker; empty: `<prefix>.callbacks`.
    pub group_id: String,
    /// Attempts per after-callback before it goes to `<prefix>.callbacks.dlq`.
    pub max_attempts: u32,
    /// First retry delay, doubled per attempt up to `retry_max_ms`, with jitter.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Timeout of one after-callback request.
    pub request_timeout_ms: u64,
    /// Where a new worker group starts: the log's end (false, the default:
    /// switching callbacks on does not replay history to the app server)
    /// or its start.
    pub new_group_from_start: bool,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            before_send_msg: false,
            after_send_msg: false,
            after_msg_withdraw: false,
            after_msg_report: false,
            friend_add: false,
            friend_delete: false,
            black_list_add: false,
            black_list_delete: false,
            state_change: false,
            before_send_timeout_ms: 2_000,
            before_send_fail_open: true,
            group_id: String::new(),
            max_attempts: 5,
            retry_base_ms: 500,
            retry_max_ms: 30_000,
            request_timeout_ms: 5_000,
            new_group_from_start: false,
        }
    }
}

impl CallbacksConfig {
    /// Whether any after-callback is switched on (the worker runs only then).
    pub fn any_after(&self) -> bool {
        !self.url.is_empty()
            && (self.after_send_msg
                || self.after_msg_withdraw
                || self.after_msg_report
                || self.friend_add
                || self.friend_delete
                || self.black_list_add
                || self.black_list_delete
                || self.state_change)
    }
}

/// Account rules.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountsConfig {
    /// Let `sendmsg` reach or come from accounts that were never imported
    /// (missive's behaviour before account checks). Off: Tencent's 20003.
    pub allow_unknown: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    pub brokers: String,
    /// Topics are `<prefix>.events`, `<prefix>.events.dlq`, ...
    pub topic_prefix: String,
    /// Partitions of the topics missive creates. The projector's loops and
    /// instances share them, so they cap its parallelism. But librdkafka
    /// sends one produce request per partition (confluentinc/librdkafka#1700),
    /// so below a few thousand messages a second every partition more is more
    /// requests for the same messages: on 2 cores, 4 partitions against 2 cost
    /// the broker 22-31% more CPU per message at 1,000-2,000 msg/s and missive
    /// 2-8% more (docs/benchmarks.md, step 25). Choose before the topic exists: Kafka cannot remove
    /// partitions, and adding some moves conversations to others.
    pub partitions: i32,
    pub replication_factor: i32,
    /// How long a consumer's fetch waits at the broker for new records
    /// (librdkafka `fetch.wait.max.ms`). Apache Kafka answers a waiting
    /// fetch as soon as a record arrives, so this costs no latency; it only
    /// sets how often an idle consumer asks again. At 10 ms the idle
    /// consumers (commands, projector, push) cost the broker 7.7% of a core
    /// with no load at all, at 500 ms 2.2% (docs/benchmarks.md, step 16).
    pub fetch_wait_max_ms: u32,
    /// How long the events producer waits to fill a batch (librdkafka
    /// `linger.ms`): each produce request costs the broker about the same
    /// whatever it carries, so under load a few ms more per send buy fewer,
    /// fuller requests (docs/benchmarks.md has the figures).
    pub linger_ms: u32,
    /// `retention.ms` given to `<prefix>.events` when missive creates it:
    /// -1 (the default) keeps the log forever, so every view can always be
    /// rebuilt from it (see docs/retention.md).
    pub events_retention_ms: i64,
    /// How records are framed on the topics (see docs/schemas.md):
    /// `single_object` (the default) or `confluent`.
    pub encoding: Encoding,
    /// The Confluent Schema Registry (`http://host:8081`). Needed for the
    /// `confluent` encoding; when set with `single_object`, missive still
    /// reads Confluent-framed records of the schemas registered there.
    pub schema_registry_url: Option<String>,
    /// A consumer that stops heartbeating (killed, hung) loses its
    /// partitions after this long (librdkafka `session.timeout.ms`).
    pub session_timeout_ms: u32,
    /// librdkafka properties given to every client as they are, for a real
    /// cluster: `security.protocol`, `sasl.mechanisms`, `sasl.username`,
    /// `sasl.password`, `ssl.ca.location`, ... (docs/infra.md). From the
    /// environment, `MISSIVE_KAFKA__LIBRDKAFKA__SASL_MECHANISMS=PLAIN` sets
    /// `sasl.mechanisms` (librdkafka names have dots, never underscores).
    /// Values are kept secret: never logged. `true` or `6000` are taken as
    /// the text librdkafka wants, from the environment or TOML alike.
    #[serde(deserialize_with = "lenient_properties")]
    pub librdkafka: BTreeMap<String, SecretString>,
}

/// The framing of records missive writes; readers accept both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Avro single-object encoding: `C3 01` + the schema's Rabin fingerprint.
    #[default]
    SingleObject,
    /// Confluent wire format: `00` + the Schema Registry id of the schema.
    Confluent,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    pub listen: SocketAddr,
    /// Requests larger than this are refused before parsing.
    pub max_request_bytes: usize,
    /// How long a send may wait for the broker's acknowledgement.
    pub produce_timeout_ms: u64,
    /// How long a relationship change waits for the views to include it.
    pub projection_timeout_ms: u64,
    /// Consumer group of the commands-topic consumers (one per ingest
    /// instance); unset: `<prefix>.ingest.commands`.
    pub commands_group_id: Option<String>,
    /// Consume `<prefix>.commands` (operators' backends writing to Kafka).
    pub commands_enabled: bool,
    /// Appends waiting for the broker's acknowledgement, at most; past it a
    /// send is refused at once with a retryable 91000 instead of queueing.
    pub max_pending_appends: usize,
    /// Sends this instance remembers having appended, at most, so that a
    /// retry arriving before the projector stored the first copy is answered
    /// as a duplicate instead of appended again (docs/idempotency.md).
    pub recent_sends_max: u64,
    /// How long a send is remembered for that (seconds).
    pub recent_sends_window_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ProjectorConfig {
    pub listen: SocketAddr,
    pub group_id: String,
    /// Events per PostgreSQL transaction at most. It binds only while the
    /// projector is behind (live batches at 1,000 msg/s hold ~10 events);
    /// then a batch takes each user's cursor and contact count and each
    /// conversation's counter once for all its events: a backlog projected
    /// at 15,700 events/s with 5,000 against 12,400 with 1,000, each batch
    /// committed (and pushed) in ~0.3 s (docs/benchmarks.md, step 28).
    pub batch_max: usize,
    /// How long a partial batch waits for more events before it is written
    /// (then it also takes what the client holds already). 0: natural
    /// batching, what arrived while the last batch was written is the next;
    /// send→push p50 −5 ms, but at 1,000 msg/s PostgreSQL +45% CPU
    /// (docs/benchmarks.md, step 21).
    pub batch_linger_ms: u64,
    /// Consume loops of the service, each a member of the group with its
    /// share of the partitions, its own thread and PostgreSQL connection.
    pub loops: usize,
    /// Consume loops of a replay (`missive replay`, a rebuild), each with its
    /// share of the partitions and its own PostgreSQL connection: 0 (the
    /// default) is one per core, never more than there are partitions.
    pub replay_loops: usize,
    /// Extra loops a service's consume loop starts while it is behind (two
    /// full batches in a row): each takes a share of the loop's partitions
    /// up to their end offsets of that moment, as a replay loop does, then
    /// hands them back. Side by side they project a backlog 1.5–1.8× as
    /// fast on 2 cores (docs/benchmarks.md, step 30), where a second member
    /// of the group would cost PostgreSQL +25% at a steady rate (smaller
    /// batches). 0: never.
    pub catch_up_loops: usize,
    /// Events waiting and no offset moving for this long: the projector
    /// reports not ready (`/readyz` answers 503).
    pub stall_after_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    pub listen: SocketAddr,
    /// Frames queued per connection (memory bound per client).
    pub send_queue: usize,
    /// A connection whose queue stays full this long is too slow and is
    /// cut off (it resyncs from its cursor when it reconnects).
    pub stall_timeout_ms: u64,
    /// Each session's presence heartbeat and its check against the newest
    /// inbox cursor (the safety net for a lost wake-up) come once per this
    /// period, done for the instance's sessions a fifteenth at a time.
    pub upkeep_period_ms: u64,
    /// DEVELOPMENT ONLY: serve the browser demo at `/demo` and mint a
    /// UserSig for any user but the administrator at `/demo/usersig`, to
    /// loopback clients only (anyone on this machine can then act as any
    /// user). Off by default; `missive dev` turns it on. Never enable it in
    /// production.
    pub demo: bool,
}

/// The secret key missive has by default, for development. It is in this
/// file for anyone to read, so whoever reaches a server running with it can
/// sign a UserSig for any user, the administrator included.
pub const DEV_SECRET_KEY: &str = "missive-dev-secret-key-change-me";

/// A configuration that is fine for development and unsafe anywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeConfig {
    #[error(
        "the UserSig secret key is missive's built-in development key, which anyone can \
         read in missive's source and use to sign a UserSig for any user, the administrator \
         included. Set MISSIVE_SECRET_KEY (or `secret_key` in the MISSIVE_CONFIG file) to \
         your app's own secret key; only `missive dev` runs with the development key"
    )]
    DevSecretKey,
    #[error(
        "the UserSig secret key is empty. Set MISSIVE_SECRET_KEY (or `secret_key` in the \
         MISSIVE_CONFIG file) to your app's own secret key"
    )]
    EmptySecretKey,
}

impl Config {
    /// Refuses what only development may run with: the built-in (or an
    /// empty) secret key. The services that verify UserSigs call it before
    /// they start; `missive dev` does not.
    pub fn check_not_development(&self) -> Result<(), UnsafeConfig> {
        use secrecy::ExposeSecret;
        match self.secret_key.expose_secret() {
            "" => Err(UnsafeConfig::EmptySecretKey),
            DEV_SECRET_KEY => Err(UnsafeConfig::DevSecretKey),
            _ => Ok(()),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sdkappid: 1_400_000_000,
            secret_key: SecretString::from(DEV_SECRET_KEY),
            admin_identifier: "administrator".into(),
            database_url: SecretString::from("postgres://missive@127.0.0.1:54329/missive"),
            db_pool_size: 16,
            kafka: KafkaConfig::default(),
            ingest: IngestConfig::default(),
            projector: ProjectorConfig::default(),
            delivery: DeliveryConfig::default(),
            permissions: PermissionsConfig::default(),
            views: ViewsConfig::default(),
            instance_id: default_instance_id(),
            stable_instance_id: false,
            push: PushConfig::default(),
            limits: LimitsConfig::default(),
            callbacks: CallbacksConfig::default(),
            accounts: AccountsConfig::default(),
        }
    }
}

/// Bounds on what clients may make the servers do: connections, slow
/// clients, JSON nesting, and call rates (docs/limits.md). A rate of 0
/// turns that limit off.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Connections the REST server (ingest) holds at once; further clients
    /// wait in the listen backlog until one closes.
    pub rest_max_connections: usize,
    /// Connections (WebSocket sessions included) delivery holds at once.
    pub ws_max_connections: usize,
    /// A client must send a request's complete headers within this time
    /// (HTTP and the WebSocket handshake), else it is disconnected (slowloris).
    pub header_read_timeout_ms: u64,
    /// A REST request body must arrive completely within this time.
    pub body_read_timeout_ms: u64,
    /// A REST connection on which nothing is read or written this long is
    /// closed (idle keep-alive connections hold no slot forever). Longer
    /// than the slowest request (`ingest.projection_timeout_ms`).
    pub rest_idle_timeout_ms: u64,
    /// Deepest nesting of arrays and objects accepted in a REST body or a
    /// WebSocket frame.
    pub json_max_depth: usize,
    /// Calls per second to each REST API for the whole app (Tencent's
    /// default is 200 per API, sendmsg included); answered 60007 past it.
    pub rest_api_per_sec: u32,
    /// Sends per second by one user (REST `From_Account`, WebSocket
    /// `send`); answered 60018 past it.
    pub user_sends_per_sec: u32,
    /// Sends a user may make in a burst before `user_sends_per_sec` applies.
    pub user_sends_burst: u32,
    /// WebSocket requests per second by one user, of every type (send,
    /// history, read, recall, contacts, push_token, ping, and frames that do
    /// not parse); answered 60018 past it. Sends count against
    /// `user_sends_per_sec` as well.
    pub user_requests_per_sec: u32,
    /// Requests a user may make in a burst before `user_requests_per_sec` applies.
    pub user_requests_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            rest_max_connections: 4_096,
            ws_max_connections: 50_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            rest_idle_timeout_ms: 60_000,
            json_max_depth: 32,
            rest_api_per_sec: 200,
            user_sends_per_sec: 20,
            user_sends_burst: 40,
            user_requests_per_sec: 50,
            user_requests_burst: 100,
        }
    }
}

/// What the views keep and for how long (Tencent's limits by default).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ViewsConfig {
    /// History (roaming) is kept this many days; 0 keeps it forever.
    /// Sequence numbers never restart when old messages go.
    pub retention_days: u32,
    /// How often the projector's janitor removes expired rows.
    pub janitor_interval_secs: u64,
    /// Recent contacts kept per user.
    pub recent_contacts_max: i64,
    /// Latest messages served with each recent contact.
    pub recent_messages: i64,
    /// Offline cache: conversations per user whose waiting messages are
    /// offered at login and counted as unread.
    pub offline_conversations_max: i64,
    /// Offline cache: waiting messages per conversation offered and counted.
    pub offline_unread_max: i64,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            retention_days: 7,
            janitor_interval_secs: 60,
            recent_contacts_max: 100,
            recent_messages: 100,
            offline_conversations_max: 100,
            offline_unread_max: 250,
        }
    }
}

/// Who may message whom (client sends; admin sends skip these checks).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PermissionsConfig {
    /// Only friends may message each other (Tencent's friend check for one-to-one chat).
    pub friends_only: bool,
    pub block_mode: BlockMode,
    /// Apply `friends_only` and `block_mode` to REST sends the administrator
    /// makes as a user (`From_Account` set to someone else), as to that
    /// user's own; off by default, as Tencent's REST API never checks.
    pub check_rest_sends: bool,
}

/// What happens to a message from a user the recipient blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockMode {
    /// Accepted and silently not delivered: the sender sees success (Tencent's default).
    #[default]
    Drop,
    /// Refused with 20007.
    Refuse,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:19092".into(),
            topic_prefix: "missive".into(),
            partitions: 2,
            replication_factor: 1,
            fetch_wait_max_ms: 500,
            linger_ms: 5,
            events_retention_ms: -1,
            encoding: Encoding::SingleObject,
            schema_registry_url: None,
            session_timeout_ms: 10_000,
            librdkafka: BTreeMap::new(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("addr"),
            max_request_bytes: 64 * 1024,
            produce_timeout_ms: 5_000,
            projection_timeout_ms: 10_000,
            commands_group_id: None,
            commands_enabled: true,
            max_pending_appends: 4_096,
            recent_sends_max: 100_000,
            recent_sends_window_secs: 600,
        }
    }
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8082".parse().expect("addr"),
            group_id: "missive-projector".into(),
            batch_max: 5_000,
            batch_linger_ms: 5,
            loops: 1,
            replay_loops: 0,
            catch_up_loops: 1,
            stall_after_ms: 5_000,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".parse().expect("addr"),
            send_queue: 1_024,
            stall_timeout_ms: 5_000,
            upkeep_period_ms: 15_000,
            demo: false,
        }
    }
}

impl Config {
    /// Defaults, then `$MISSIVE_CONFIG` (a TOML file) if set, then `MISSIVE_*` variables.
    pub fn load() -> Result<Self, Box<figment::Error>> {
        // Every struct is `#[serde(default)]`: what no source sets keeps its default.
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("MISSIVE_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment.merge(
            Env::prefixed("MISSIVE_")
                .ignore(&["config"])
                .map(|key| env_key(key.as_str()).into()),
        );
        let mut config: Self = figment.extract().map_err(Box::new)?;
        config.stable_instance_id = figment.contains("instance_id");
        Ok(config)
    }

    pub fn events_topic(&self) -> String {
        format!("{}.events", self.kafka.topic_prefix)
    }

    pub fn events_dlq_topic(&self) -> String {
        format!("{}.events.dlq", self.kafka.topic_prefix)
    }

    /// Where operators' backends write commands (`schemas/avro/commands.avsc`).
    pub fn commands_topic(&self) -> String {
        format!("{}.commands", self.kafka.topic_prefix)
    }

    /// The consumer group that reads the commands topic.
    pub fn commands_group(&self) -> String {
        self.ingest
            .commands_group_id
            .clone()
            .unwrap_or_else(|| format!("{}.ingest.commands", self.kafka.topic_prefix))
    }

    /// Refused and undecodable commands, byte for byte, with the reason in headers.
    pub fn commands_dlq_topic(&self) -> String {
        format!("{}.commands.dlq", self.kafka.topic_prefix)
    }
    /// After-callbacks that still fail after their retries.
    pub fn callbacks_dlq_topic(&self) -> String {
        format!("{}.callbacks.dlq", self.kafka.topic_prefix)
    }

    /// The after-callbacks worker's group: `callbacks.group_id`, else `<prefix>.callbacks`.
    pub fn callbacks_group_id(&self) -> String {
        if self.callbacks.group_id.is_empty() {
            format!("{}.callbacks", self.kafka.topic_prefix)
        } else {
            self.callbacks.group_id.clone()
        }
    }

    /// Where notifications that still fail after their retries go.
    pub fn push_dlq_topic(&self) -> String {
        format!("{}.push.dlq", self.kafka.topic_prefix)
    }

    /// The push worker's consumer group: `push.group_id`, else `<prefix>.push`.
    pub fn push_group_id(&self) -> String {
        if self.push.group_id.is_empty() {
            format!("{}.push", self.kafka.topic_prefix)
        } else {
            self.push.group_id.clone()
        }
    }
}

/// Offline push. The worker runs only when `enabled` and at least one vendor
/// section is present, so a deployment (or a test) without vendor credentials
/// pays nothing for it.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct PushConfig {
    pub enabled: bool,
    /// Consumer group of the push worker; empty means `<topic_prefix>.push`.
    pub group_id: String,
    /// Attempts per notification before it goes to `<prefix>.push.dlq`.
    pub max_attempts: u32,
    /// First retry delay; doubled on each attempt, capped at `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Timeout of one vendor request.
    pub request_timeout_ms: u64,
    /// A message older than this when the worker reads it is not pushed: a
    /// new consumer group or a long outage must not flood phones with stale
    /// notifications (the app syncs them anyway).
    pub max_age_seconds: u64,
    /// Messages handled concurrently (offsets are still stored in order).
    pub concurrency: usize,
    pub apns: Option<ApnsConfig>,
    pub fcm: Option<FcmConfig>,
    pub huawei: Option<HuaweiConfig>,
    pub xiaomi: Option<XiaomiConfig>,
    pub oppo: Option<OppoConfig>,
    pub vivo: Option<VivoConfig>,
    pub meizu: Option<MeizuConfig>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            group_id: String::new(),
            max_attempts: 5,
            retry_base_ms: 500,
            retry_max_ms: 30_000,
            request_timeout_ms: 10_000,
            max_age_seconds: 3_600,
            concurrency: 32,
            apns: None,
            fcm: None,
            huawei: None,
            xiaomi: None,
            oppo: None,
            vivo: None,
            meizu: None,
        }
    }
}

impl PushConfig {
    /// Whether the push worker has anything to do.
    pub fn active(&self) -> bool {
        self.enabled
            && (self.apns.is_some()
                || self.fcm.is_some()
                || self.huawei.is_some()
                || self.xiaomi.is_some()
                || self.oppo.is_some()
                || self.vivo.is_some()
                || self.meizu.is_some())
    }
}

/// APNs with token-based (JWT) authentication.
#[derive(Clone, Debug, Deserialize)]
pub struct ApnsConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub team_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub key_id: String,
    /// The app's bundle id (`apns-topic`).
    #[serde(deserialize_with = "lenient_string")]
    pub bundle_id: String,
    /// The `.p8` signing key (PKCS#8 PEM); `\n` escapes are accepted.
    #[serde(deserialize_with = "lenient_secret")]
    pub private_key: SecretString,
    /// `https://api.sandbox.push.apple.com` for development builds.
    #[serde(default = "default_apns_url")]
    pub base_url: String,
}

/// FCM HTTP v1 with a service account (the fields of its JSON key file).
#[derive(Clone, Debug, Deserialize)]
pub struct FcmConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub project_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub client_email: String,
    /// PKCS#8 PEM; `\n` escapes are accepted.
    #[serde(deserialize_with = "lenient_secret")]
    pub private_key: SecretString,
    #[serde(default = "default_fcm_token_uri")]
    pub token_uri: String,
    #[serde(default = "default_fcm_url")]
    pub base_url: String,
}

/// Huawei Push Kit (OAuth 2.0 client credentials).
#[derive(Clone, Debug, Deserialize)]
pub struct HuaweiConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub app_id: String,
    /// Defaults to `app_id`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub client_secret: SecretString,
    #[serde(default = "default_huawei_token_url")]
    pub token_url: String,
    #[serde(default = "default_huawei_url")]
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct XiaomiConfig {
    /// `restricted_package_name`.
    #[serde(deserialize_with = "lenient_string")]
    pub package_name: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub app_secret: SecretString,
    #[serde(default = "default_xiaomi_url")]
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OppoConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub app_key: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub master_secret: SecretString,
    #[serde(default = "default_oppo_url")]
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VivoConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub app_id: String,
    #[serde(deserialize_with = "lenient_string")]
    pub app_key: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub app_secret: SecretString,
    #[serde(default = "default_vivo_url")]
    pub base_url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MeizuConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub app_id: String,
    #[serde(deserialize_with = "lenient_secret")]
    pub app_secret: SecretString,
    #[serde(default = "default_meizu_url")]
    pub base_url: String,
}

/// Ids such as `MISSIVE_PUSH__VIVO__APP_ID=10001` arrive as numbers from the
/// environment (and `..._LIBRDKAFKA__SOCKET_NAGLE_DISABLE=true` as a bool);
/// vendor ids, secrets and librdkafka properties are strings whatever they
/// look like.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient {
    Text(String),
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
}

impl Lenient {
    fn into_string(self) -> String {
        match self {
            Lenient::Text(s) => s,
            Lenient::Bool(b) => b.to_string(),
            Lenient::Int(i) => i.to_string(),
            Lenient::Uint(u) => u.to_string(),
            Lenient::Float(f) => f.to_string(),
        }
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Lenient::deserialize(d).map(Lenient::into_string)
}

fn lenient_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    lenient_string(d).map(SecretString::from)
}

fn lenient_properties<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SecretString>, D::Error> {
    let properties = BTreeMap::<String, Lenient>::deserialize(d)?;
    Ok(properties
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v.into_string())))
        .collect())
}

fn default_apns_url() -> String {
    "https://api.push.apple.com".into()
}
fn default_fcm_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}
fn default_fcm_url() -> String {
    "https://fcm.googleapis.com".into()
}
fn default_huawei_token_url() -> String {
    "https://oauth-login.cloud.huawei.com/oauth2/v3/token".into()
}
fn default_huawei_url() -> String {
    "https://push-api.cloud.huawei.com".into()
}
fn default_xiaomi_url() -> String {
    "https://api.xmpush.xiaomi.com".into()
}
fn default_oppo_url() -> String {
    "https://api.push.oppomobile.com".into()
}
fn default_vivo_url() -> String {
    "https://api-push.vivo.com.cn".into()
}
fn default_meizu_url() -> String {
    "https://server-api-push.meizu.com".into()
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// `MISSIVE_A__B` sets `a.b`; the most used nested keys also have a flat
/// spelling (`MISSIVE_KAFKA_BROKERS`), which is what operators type first.
fn env_key(key: &str) -> String {
    let key = key.to_ascii_lowercase().replace("__", ".");
    match key.as_str() {
        "kafka_brokers" => "kafka.brokers".into(),
        "topic_prefix" | "kafka_topic_prefix" => "kafka.topic_prefix".into(),
        "ingest_listen" => "ingest.listen".into(),
        "delivery_listen" => "delivery.listen".into(),
        "projector_listen" => "projector.listen".into(),
        "friends_only" => "permissions.friends_only".into(),
        "block_mode" => "permissions.block_mode".into(),
        "schema_registry_url" => "kafka.schema_registry_url".into(),
        _ => key,
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures must return figment::Error
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn env_overrides_defaults_and_secrets_stay_out_of_debug() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MISSIVE_SECRET_KEY", "s3cr3t-value");
            jail.set_env("MISSIVE_KAFKA_BROKERS", "10.0.0.1:9092");
            jail.set_env("MISSIVE_PROJECTOR__BATCH_MAX", "77");
            // librdkafka properties that look like bools and numbers stay text.
            jail.set_env("MISSIVE_KAFKA__LIBRDKAFKA__SOCKET_NAGLE_DISABLE", "true");
            jail.set_env("MISSIVE_KAFKA__LIBRDKAFKA__SASL_PASSWORD", "123456");
            let c = Config::load().expect("config loads");
            let property = |k: &str| c.kafka.librdkafka[k].expose_secret().to_owned();
            assert_eq!(property("socket_nagle_disable"), "true");
            assert_eq!(property("sasl_password"), "123456");
            assert_eq!(c.secret_key.expose_secret(), "s3cr3t-value");
            assert_eq!(c.kafka.brokers, "10.0.0.1:9092");
            assert_eq!(c.projector.batch_max, 77);
            assert_eq!(c.admin_identifier, "administrator");
            let debug = format!("{c:?}");
            assert!(!debug.contains("s3cr3t-value"), "secret leaked: {debug}");
            assert!(!debug.contains("missive@127.0.0.1"), "database url leaked");
            Ok(())
        });
    }

    #[test]
    fn push_credentials_load_from_env_and_never_show_in_debug() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MISSIVE_PUSH__APNS__TEAM_ID", "TEAM123456");
            jail.set_env("MISSIVE_PUSH__APNS__KEY_ID", "KEY1234567");
            jail.set_env("MISSIVE_PUSH__APNS__BUNDLE_ID", "com.example.chat");
            jail.set_env("MISSIVE_PUSH__APNS__PRIVATE_KEY", "apns-pem-s3cr3t");
            jail.set_env("MISSIVE_PUSH__FCM__PROJECT_ID", "proj");
            jail.set_env("MISSIVE_PUSH__FCM__CLIENT_EMAIL", "sa@proj.example");
            jail.set_env("MISSIVE_PUSH__FCM__PRIVATE_KEY", "fcm-pem-s3cr3t");
            jail.set_env("MISSIVE_PUSH__HUAWEI__APP_ID", "1001");
            jail.set_env("MISSIVE_PUSH__HUAWEI__CLIENT_SECRET", "huawei-s3cr3t");
            jail.set_env("MISSIVE_PUSH__XIAOMI__PACKAGE_NAME", "com.example.chat");
            jail.set_env("MISSIVE_PUSH__XIAOMI__APP_SECRET", "xiaomi-s3cr3t");
            jail.set_env("MISSIVE_PUSH__OPPO__APP_KEY", "ok");
            jail.set_env("MISSIVE_PUSH__OPPO__MASTER_SECRET", "oppo-s3cr3t");
            jail.set_env("MISSIVE_PUSH__VIVO__APP_ID", "1");
            jail.set_env("MISSIVE_PUSH__VIVO__APP_SECRET", "vivo-s3cr3t");
            jail.set_env("MISSIVE_PUSH__MEIZU__APP_ID", "2");
            jail.set_env("MISSIVE_PUSH__MEIZU__APP_SECRET", "meizu-s3cr3t");
            // Numeric-looking values stay strings.
            jail.set_env("MISSIVE_PUSH__VIVO__APP_KEY", "20240101");
            jail.set_env("MISSIVE_PUSH__MAX_ATTEMPTS", "3");
            let c = Config::load().expect("config loads");
            assert!(c.push.active());
            assert_eq!(c.push.max_attempts, 3);
            let apns = c.push.apns.as_ref().unwrap();
            assert_eq!(apns.private_key.expose_secret(), "apns-pem-s3cr3t");
            assert_eq!(apns.base_url, "https://api.push.apple.com");
            assert_eq!(c.push_group_id(), "missive.push");
            assert_eq!(c.push.huawei.as_ref().unwrap().app_id, "1001");
            assert_eq!(c.push.vivo.as_ref().unwrap().app_key, "20240101");
            let debug = format!("{c:?}");
            for secret in [
                "apns-pem-s3cr3t",
                "fcm-pem-s3cr3t",
                "huawei-s3cr3t",
                "xiaomi-s3cr3t",
                "oppo-s3cr3t",
                "vivo-s3cr3t",
                "meizu-s3cr3t",
            ] {
                assert!(!debug.contains(secret), "{secret} leaked: {debug}");
            }
            assert!(debug.contains("TEAM123456"), "non-secrets stay visible");
            Ok(())
        });
    }

    #[test]
    fn only_development_runs_with_the_built_in_or_an_empty_key() {
        let dev = Config::default();
        let e = dev.check_not_development().unwrap_err();
        assert_eq!(e, UnsafeConfig::DevSecretKey);
        assert!(e.to_string().contains("Set MISSIVE_SECRET_KEY"), "{e}");
        let empty = Config {
            secret_key: SecretString::from(""),
            ..Config::default()
        };
        assert_eq!(
            empty.check_not_development(),
            Err(UnsafeConfig::EmptySecretKey)
        );
        let own = Config {
            secret_key: SecretString::from("an-app-of-our-own"),
            ..Config::default()
        };
        assert_eq!(own.check_not_development(), Ok(()));
    }

    #[test]
    fn push_is_inactive_without_a_vendor() {
        let c = Config::default();
        assert!(c.push.enabled);
        assert!(!c.push.active());
    }

    #[test]
    fn a_malformed_value_is_a_precise_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("MISSIVE_INGEST_LISTEN", "not-an-address");
            let err = Config::load().expect_err("bad address refused");
            assert!(
                err.to_string().to_lowercase().contains("ingest.listen"),
                "{err}"
            );
            Ok(())
        });
    }
}
