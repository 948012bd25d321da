//! Every event kind, from every producer, is framed as `kafka.encoding`
//! says (docs/schemas.md): REST calls, WebSocket requests, the commands
//! topic and the push worker's token removals all append through the one
//! `EventAppender`. Before it was the only way to append, WebSocket sends
//! and push-token removals were written single-object under `confluent`.

use crate::fake_vendors;
use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use fake_vendors::{FakeVendors, Reply};
use missive_core::config::Encoding;
use missive_schemas::commands::{Action, Command, CommandCodec, SendMessage};
use missive_schemas::framing::SchemaIds;
use missive_schemas::{Channel, Event, EventCodec};
use support::registry::FakeRegistry;
use support::TestApp;

async fn ok(app: &TestApp, api: &str, body: Value) -> Value {
    let reply = app.rest(api, body).await;
    assert_eq!(reply["ErrorCode"], 0, "{api}: {reply}");
    reply
}

/// Drives every event kind through every producer, then checks each record
/// on the events topic.
async fn every_kind_is_framed_as_configured(encoding: Encoding) {
    // bob is online while messages reach him: the push worker counts that.
    let _online = support::ONLINE_PUSH.lock().await;
    let registry = FakeRegistry::start().await;
    let fakes = FakeVendors::start().await;
    let url = registry.url.clone();
    let app = TestApp::spawn_with(|c| {
        fakes.configure(c);
        c.kafka.encoding = encoding;
        c.kafka.schema_registry_url = Some(url);
    })
    .await;

    // REST, as the administrator.
    let accounts = json!({"Accounts": ["alice", "bob", "erin", "dora"]});
    ok(&app, "im_open_login_svc/multiaccount_import", accounts).await;
    let nick = json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice"}]);
    let profile = json!({"From_Account": "alice", "ProfileItem": nick});
    ok(&app, "profile/portrait_set", profile).await;
    let add = json!({"From_Account": "alice", "ForceAddFlags": 1, "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_Test"}]});
    ok(&app, "sns/friend_add", add).await;
    let pair = json!({"From_Account": "alice", "To_Account": ["bob"]});
    // Deleted before the block, which would end the friendship itself.
    let deleted = ok(&app, "sns/friend_delete", pair.clone()).await;
    assert_eq!(deleted["ResultItem"][0]["ResultCode"], 0, "{deleted}");
    ok(&app, "sns/black_list_add", pair.clone()).await;
    ok(&app, "sns/black_list_delete", pair).await;
    // A friend request bob must confirm (his AllowType is Tencent's default),
    // his answer, and alice's entry for him updated.
    let request = json!({"From_Account": "alice", "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_Test"}]});
    let pending = ok(&app, "sns/friend_add", request).await;
    assert_eq!(pending["ResultItem"][0]["ResultCode"], 30539, "{pending}");
    let answer = json!({"From_Account": "bob", "ResponseFriendItem": [{"To_Account": "alice", "ResponseAction": "Response_Action_Agree"}]});
    ok(&app, "sns/friend_response", answer).await;
    let remark = json!({"From_Account": "alice", "UpdateItem": [{"To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "B"}]}]});
    ok(&app, "sns/friend_update", remark).await;
    let sent = app.send_text("alice", "bob", 1, "over REST").await;
    let key = sent["MsgKey"].as_str().unwrap().to_owned();
    // An edit acts on a message the views hold.
    let stored = format!("SELECT count(*) FROM messages WHERE msg_key = '{key}'");
    app.wait_for_count(&stored, 1).await;
    let edit = json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key, "CloudCustomData": "edited"});
    ok(&app, "openim/modify_c2c_msg", edit).await;
    let recall = json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key});
    ok(&app, "openim/admin_msgwithdraw", recall).await;
    let pin = json!({"From_Account": "alice", "Type": 1, "To_Account": "bob", "TopFlag": 1});
    ok(&app, "missive_contact/set_top", pin).await;
    let mark = json!({"From_Account": "alice", "MarkItem": [{"OptType": 3,
        "ContactItem": {"Type": 1, "To_Account": "bob"}, "SetMark": [0], "CustomMark": "star"}]});
    ok(&app, "recentcontact/mark_contact", mark).await;
    let forget = json!({"From_Account": "alice", "Type": 1, "To_Account": "bob"});
    ok(&app, "recentcontact/delete", forget).await;

    let asking = json!({"From_Account": "alice", "To_Account": "bob", "MsgRandom": 4,
        "IsNeedReadReceipt": 1, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "read me"}}]});
    let asking = ok(&app, "openim/sendmsg", asking).await["MsgKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = format!("SELECT count(*) FROM messages WHERE msg_key = '{asking}'");
    app.wait_for_count(&stored, 1).await;

    // A device, as its user.
    let mut ws = app.ws("bob", "phone").await;
    let frame = json!({"type": "send", "msg": {"To_Account": "alice", "MsgRandom": 2,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "over WebSocket"}}]}});
    let reply = ws.request(1, frame).await;
    assert_eq!(reply["type"], "sent", "{reply}");
    let reply = ws
        .request(2, json!({"type": "read", "peer": "alice"}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let reply = ws
        .request(3, json!({"type": "pin", "peer": "alice", "pinned": true}))
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let reply = ws
        .request(
            4,
            json!({"type": "receipt", "peer": "alice", "msg_keys": [asking]}),
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");

    // The commands topic.
    let command = Command {
        command_id: "framing-1".into(),
        issued_at: 0,
        issuer: "test".into(),
        action: Action::SendMessage(SendMessage::text("shop", "bob", "via a command")),
    };
    let producer: FutureProducer = missive_core::kafka::producer(&app.config).unwrap();
    producer
        .send(
            FutureRecord::to(&app.config.commands_topic())
                .key("shop:bob")
                .payload(&CommandCodec::get().encode(&command)),
            Duration::from_secs(10),
        )
        .await
        .expect("command produced");

    // The push worker: erin is offline and her only token is invalid, so
    // the worker appends its removal.
    let token = "fcm-erin-token";
    fakes.script("fcm", token, vec![Reply::InvalidToken]);
    let register =
        json!({"From_Account": "erin", "DeviceId": "tablet", "Platform": "fcm", "Token": token});
    ok(&app, "missive_push/set_token", register).await;
    app.send_text("alice", "erin", 3, "to an offline user")
        .await;
    app.wait_for_count(
        "SELECT count(*) FROM live_push_tokens WHERE user_id = 'erin'",
        0,
    )
    .await;
    app.wait_for_count(
        "SELECT count(*) FROM messages WHERE from_account = 'shop'",
        1,
    )
    .await;

    // The account lifecycle, as the administrator.
    let mute = json!({"Set_Account": "dora", "C2CmsgNospeakingTime": 60});
    ok(&app, "openconfigsvr/setnospeaking", mute).await;
    ok(&app, "im_open_login_svc/kick", json!({"UserID": "dora"})).await;
    let delete = json!({"DeleteItem": [{"UserID": "dora"}]});
    ok(&app, "im_open_login_svc/account_delete", delete).await;

    let topic = app.config.events_topic();
    let codec = EventCodec::get();
    let mut ids = SchemaIds::new();
    let registered = registry.versions(&format!("{topic}-value"));
    for id in &registered {
        ids.insert(*id, codec.fingerprint());
    }
    let mut kinds = BTreeSet::new();
    let mut channels = BTreeSet::new();
    for record in support::read_topic(&app.config, &topic) {
        let bytes = &record.payload;
        let envelope = codec.decode_framed(bytes, &ids).expect("decodes");
        let kind = envelope.event.kind();
        let channel = envelope.origin.channel;
        match encoding {
            Encoding::Confluent => {
                assert_eq!(bytes[0], 0, "{kind} from {channel:?}: not Confluent-framed");
                let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
                assert_eq!(vec![id], registered, "{kind} from {channel:?}");
            }
            Encoding::SingleObject => {
                assert_eq!(
                    bytes[..2],
                    [0xC3, 0x01],
                    "{kind} from {channel:?}: not single-object"
                );
                assert_eq!(bytes[2..10], codec.fingerprint(), "{kind} from {channel:?}");
            }
        }
        kinds.insert(kind);
        channels.insert(format!("{channel:?}"));
    }
    assert_eq!(
        kinds,
        Event::KINDS.iter().copied().collect(),
        "every event kind was written"
    );
    let all: BTreeSet<String> = [
        Channel::Rest,
        Channel::Websocket,
        Channel::Commands,
        Channel::System,
    ]
    .iter()
    .map(|c| format!("{c:?}"))
    .collect();
    assert_eq!(channels, all, "every producer wrote");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_producer_writes_confluent_framing_when_configured() {
    every_kind_is_framed_as_configured(Encoding::Confluent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_producer_writes_single_object_framing_by_default() {
    every_kind_is_framed_as_configured(Encoding::SingleObject).await;
}
