//! Fixed sample events: the golden vectors' sources, and fixtures for tests
//! of other crates. Every field is set, so a vector exercises the whole schema.

use uuid::Uuid;

use crate::events::*;

/// A delivered text message from `from` to `to` sent at `sent_at` (ms), with
/// Tencent's defaults everywhere else: the base other fixtures adjust.
pub fn text(msg_key: &str, from: &str, to: &str, text: &str, sent_at: i64) -> MessageSent {
    MessageSent {
        msg_key: msg_key.into(),
        conversation_id: conversation_id(from, to),
        from_account: from.into(),
        to_account: to.into(),
        msg_random: 1,
        msg_seq: 1,
        sent_at,
        body: vec![Element::Text(TextElem { text: text.into() })],
        cloud_custom_data: String::new(),
        sender_profile: SenderProfile::default(),
        sync_other_machine: SyncOtherMachine::Sync,
        lifetime_seconds: 604_800,
        offline_push: None,
        need_read_receipt: false,
        import_mode: ImportMode::None,
        decision: Decision::Deliver,
        before_send_callback: None,
        forbid_after_send_callback: false,
        no_unread: false,
        no_last_msg: false,
        client_ip: None,
    }
}

/// `event` in a fresh envelope, as a REST call of the administrator to
/// `instance` at `at` (ms) would record it.
pub fn admin_envelope(event: Event, instance: &str, at: i64) -> Envelope {
    Envelope {
        event_id: Uuid::now_v7(),
        occurred_at: at,
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: instance.into(),
        },
        event,
    }
}

/// A text message from alice to bob, as a REST send by the administrator would record it.
pub fn text_message() -> Envelope {
    Envelope {
        event_id: Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8057").expect("uuid"),
        occurred_at: 1_700_000_000_123,
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: "ingest-1".into(),
        },
        event: Event::MessageSent(Box::new(MessageSent {
            msg_random: 1_287_657,
            msg_seq: 93_847_636,
            sender_profile: SenderProfile {
                nickname: "Alice".into(),
                avatar_url: "https://img.example.com/alice.png".into(),
            },
            ..text(
                "5f0b6c1e2a9d4c7e8b3a1f0e9d8c7b6a",
                "alice",
                "bob",
                "hi, 你好 👋",
                1_700_000_000_120,
            )
        })),
    }
}

/// One message carrying every element type, with offline push info, sent over WebSocket.
pub fn every_element() -> Envelope {
    let mut env = text_message();
    env.event_id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8058").expect("uuid");
    env.origin = Origin {
        channel: Channel::Websocket,
        actor: "alice".into(),
        admin: false,
        instance: "ingest-2".into(),
    };
    let Event::MessageSent(m) = &mut env.event else {
        unreachable!("text_message() is a MessageSent")
    };
    m.msg_key = "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into();
    m.body = vec![
        Element::Text(TextElem {
            text: "look".into(),
        }),
        Element::Face(FaceElem {
            index: 7,
            data: "smile".into(),
        }),
        Element::Location(LocationElem {
            desc: "Shenzhen Bay".into(),
            latitude: 22.5083,
            longitude: 113.9442,
        }),
        Element::Image(ImageElem {
            uuid: "img-1".into(),
            image_format: 3,
            images: vec![
                ImageInfo {
                    r#type: 1,
                    size: 1_048_576,
                    width: 1920,
                    height: 1080,
                    url: "https://cdn.example.com/i/1.png".into(),
                },
                ImageInfo {
                    r#type: 3,
                    size: 20_480,
                    width: 198,
                    height: 111,
                    url: "https://cdn.example.com/i/1_thumb.png".into(),
                },
            ],
        }),
        Element::Sound(SoundElem {
            url: "https://cdn.example.com/a/1.m4a".into(),
            uuid: "snd-1".into(),
            size: 30_000,
            second: 4,
            download_flag: 2,
        }),
        Element::File(FileElem {
            url: "https://cdn.example.com/f/report.pdf".into(),
            uuid: "file-1".into(),
            file_size: 10_485_760,
            file_name: "report.pdf".into(),
            download_flag: 2,
        }),
        Element::VideoFile(VideoFileElem {
            video_url: "https://cdn.example.com/v/1.mp4".into(),
            video_uuid: "vid-1".into(),
            video_size: 52_428_800,
            video_second: 30,
            video_format: "mp4".into(),
            video_download_flag: 2,
            thumb_url: "https://cdn.example.com/v/1.jpg".into(),
            thumb_uuid: "vid-1-thumb".into(),
            thumb_size: 13_907,
            thumb_width: 720,
            thumb_height: 1280,
            thumb_format: "JPG".into(),
            thumb_download_flag: 2,
        }),
        Element::Custom(CustomElem {
            data: r#"{"type":"red_packet","amount":88}"#.into(),
            desc: "red packet".into(),
            ext: "".into(),
            sound: "dingdong.aiff".into(),
        }),
        Element::System(SystemElem {
            source: SystemSource::Operator,
            kind: "promo.banner".into(),
            text: "Spring sale".into(),
            data: r#"{"id":42}"#.into(),
        }),
    ];
    m.cloud_custom_data = "cloud".into();
    m.sync_other_machine = SyncOtherMachine::NoSync;
    m.lifetime_seconds = 3_600;
    m.offline_push = Some(OfflinePushInfo {
        push_flag: 0,
        title: "Alice".into(),
        desc: "sent you a message".into(),
        ext: r#"{"deeplink":"app://chat/alice"}"#.into(),
        android_sound: "ring.mp3".into(),
        apns_sound: "ring.caf".into(),
        apns_badge_mode: 1,
        apns_title: "Alice".into(),
        apns_sub_title: "chat".into(),
        apns_image: "https://cdn.example.com/i/1_thumb.png".into(),
    });
    m.need_read_receipt = true;
    m.import_mode = ImportMode::Realtime;
    m.decision = Decision::DropBlocked;
    env
}

/// One envelope of each account, profile and relationship kind, from the REST API.
pub fn relationship_events() -> Vec<(&'static str, Envelope)> {
    let make = |n: u8, event: Event| Envelope {
        event_id: Uuid::from_u128(0x01890a5d_ac96_774b_bcce_b302099a8100 + u128::from(n)),
        occurred_at: 1_700_000_001_000 + i64::from(n),
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: "ingest-1".into(),
        },
        event,
    };
    vec![
        (
            "account_imported",
            make(
                1,
                Event::AccountImported(AccountImported {
                    user_id: "alice".into(),
                    nickname: "Alice".into(),
                    avatar_url: "https://img.example.com/alice.png".into(),
                }),
            ),
        ),
        (
            "profile_updated",
            make(
                2,
                Event::ProfileUpdated(ProfileUpdated {
                    user_id: "alice".into(),
                    nickname: Some("Alice L.".into()),
                    avatar_url: None,
                    fields: Vec::new(),
                }),
            ),
        ),
        (
            "friend_added",
            make(
                3,
                Event::FriendAdded(FriendAdded::plain("alice", "bob", true)),
            ),
        ),
        (
            "friend_deleted",
            make(
                4,
                Event::FriendDeleted(FriendChange {
                    user_id: "alice".into(),
                    friend_id: "bob".into(),
                    both: false,
                }),
            ),
        ),
        (
            "block_added",
            make(
                5,
                Event::BlockAdded(BlockChange {
                    user_id: "bob".into(),
                    blocked_id: "mallory".into(),
                }),
            ),
        ),
        (
            "block_removed",
            make(
                6,
                Event::BlockRemoved(BlockChange {
                    user_id: "bob".into(),
                    blocked_id: "mallory".into(),
                }),
            ),
        ),
        (
            "message_recalled",
            make(
                7,
                Event::MessageRecalled(MessageRecalled {
                    conversation_id: conversation_id("alice", "bob"),
                    msg_key: "5f0b6c1e2a9d4c7e8b3a1f0e9d8c7b6a".into(),
                    from_account: "alice".into(),
                    to_account: "bob".into(),
                }),
            ),
        ),
        (
            "message_modified",
            make(
                8,
                Event::MessageModified(MessageModified {
                    conversation_id: conversation_id("alice", "bob"),
                    msg_key: "5f0b6c1e2a9d4c7e8b3a1f0e9d8c7b6a".into(),
                    from_account: "alice".into(),
                    to_account: "bob".into(),
                    body: Some(vec![Element::Text(TextElem {
                        text: "hi, edited".into(),
                    })]),
                    cloud_custom_data: None,
                }),
            ),
        ),
        (
            "conversation_read",
            make(
                9,
                Event::ConversationRead(ConversationRead {
                    conversation_id: conversation_id("alice", "bob"),
                    reader: "bob".into(),
                    peer: "alice".into(),
                    read_time: 1_700_000_000_500,
                }),
            ),
        ),
    ]
}

/// One envelope of each offline-push token kind (added in schema v2), from a device.
pub fn push_token_events() -> Vec<(&'static str, Envelope)> {
    let make = |n: u8, event: Event| Envelope {
        event_id: Uuid::from_u128(0x01890a5d_ac96_774b_bcce_b302099a8200 + u128::from(n)),
        occurred_at: 1_700_000_002_000 + i64::from(n),
        origin: Origin {
            channel: Channel::Websocket,
            actor: "alice".into(),
            admin: false,
            instance: "ingest-2".into(),
        },
        event,
    };
    vec![
        (
            "push_token_registered",
            make(
                1,
                Event::PushTokenRegistered(PushTokenRegistered {
                    user_id: "alice".into(),
                    device_id: "iphone-15-a1b2".into(),
                    platform: PushPlatform::Apns,
                    token: "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
                        .into(),
                }),
            ),
        ),
        (
            "push_token_removed",
            make(
                2,
                Event::PushTokenRemoved(PushTokenRemoved {
                    user_id: "alice".into(),
                    platform: PushPlatform::Huawei,
                    token: "0864872030485923300004578400CN01".into(),
                    reason: PushTokenRemovalReason::InvalidToken,
                }),
            ),
        ),
    ]
}

/// The events v3 added: a message the before-send callback rewrote, and the
/// account lifecycle.
pub fn v3_events() -> Vec<(&'static str, Envelope)> {
    let make = |n: u8, event| Envelope {
        event_id: Uuid::parse_str(&format!("01890a5d-ac96-774b-bcce-b302099a83{n:02x}"))
            .expect("uuid"),
        occurred_at: 1_700_000_003_000 + i64::from(n),
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: "ingest-3".into(),
        },
        event,
    };
    let mut rewritten = text_message();
    rewritten.event_id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8300").expect("uuid");
    if let Event::MessageSent(m) = &mut rewritten.event {
        m.body = vec![Element::Text(TextElem {
            text: "hi, ***".into(),
        })];
        m.cloud_custom_data = "moderated".into();
        m.before_send_callback = Some(BeforeSendCallback {
            outcome: BeforeSendOutcome::Rewritten,
            detail: String::new(),
        });
    }
    vec![
        ("message_sent_rewritten_by_callback", rewritten),
        (
            "account_deleted",
            make(
                1,
                Event::AccountDeleted(AccountChange {
                    user_id: "carol".into(),
                }),
            ),
        ),
        (
            "account_kicked",
            make(
                2,
                Event::AccountKicked(AccountChange {
                    user_id: "bob".into(),
                }),
            ),
        ),
        (
            "no_speaking_set",
            make(
                3,
                Event::NoSpeakingSet(NoSpeakingSet {
                    user_id: "alice".into(),
                    c2c_nospeaking_seconds: 3_600,
                    muted_until: 1_700_000_003_003 + 3_600_000,
                }),
            ),
        ),
    ]
}

/// The events v4 added: a message sent with Tencent's `SendMsgControl`
/// options, and a conversation deleted with its history.
pub fn v4_events() -> Vec<(&'static str, Envelope)> {
    let mut controlled = text_message();
    controlled.event_id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8400").expect("uuid");
    if let Event::MessageSent(m) = &mut controlled.event {
        m.msg_key = "93847637_1287658_3a1f0e9d8c7b".into();
        m.msg_seq = 93_847_637;
        m.msg_random = 1_287_658;
        m.no_unread = true;
        m.no_last_msg = true;
    }
    let deleted = Envelope {
        event_id: Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8401").expect("uuid"),
        occurred_at: 1_700_000_004_001,
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: "ingest-4".into(),
        },
        event: Event::ConversationDeleted(ConversationDeleted {
            conversation_id: conversation_id("alice", "bob"),
            user_id: "bob".into(),
            peer: "alice".into(),
            clear_history: true,
        }),
    };
    vec![
        ("message_sent_controls", controlled),
        ("conversation_deleted", deleted),
    ]
}

/// The events v5 added: the other profile tags, friends with their remark,
/// groups, source and custom fields (imported, updated), and friend requests.
pub fn v5_events() -> Vec<(&'static str, Envelope)> {
    let make = |n: u8, event: Event| Envelope {
        event_id: Uuid::from_u128(0x01890a5d_ac96_774b_bcce_b302099a8500 + u128::from(n)),
        occurred_at: 1_700_000_005_000 + i64::from(n),
        origin: Origin {
            channel: Channel::Rest,
            actor: "administrator".into(),
            admin: true,
            instance: "ingest-5".into(),
        },
        event,
    };
    let tag = |tag: &str, value: TagValueKind| TagValue {
        tag: tag.into(),
        value,
    };
    vec![
        (
            "profile_updated_fields",
            make(
                1,
                Event::ProfileUpdated(ProfileUpdated {
                    user_id: "alice".into(),
                    nickname: None,
                    avatar_url: Some("https://img.example.com/alice2.png".into()),
                    fields: vec![
                        tag(
                            "Tag_Profile_IM_AllowType",
                            TagValueKind::String("AllowType_Type_NeedConfirm".into()),
                        ),
                        tag("Tag_Profile_IM_BirthDay", TagValueKind::Integer(19_900_101)),
                        tag(
                            "Tag_Profile_Custom_Hobby",
                            TagValueKind::String("chess".into()),
                        ),
                    ],
                }),
            ),
        ),
        (
            "friend_added_imported",
            make(
                2,
                Event::FriendAdded(FriendAdded {
                    remark: "Bobby".into(),
                    groups: vec!["school".into(), "chess".into()],
                    add_source: "AddSource_Type_Import".into(),
                    add_wording: "hi, 你好".into(),
                    added_at: Some(1_420_000_001_000),
                    custom: vec![tag("Tag_SNS_Custom_Rank", TagValueKind::Integer(3))],
                    imported: true,
                    ..FriendAdded::plain("alice", "bob", false)
                }),
            ),
        ),
        (
            "friend_updated",
            make(
                3,
                Event::FriendUpdated(FriendUpdated {
                    user_id: "alice".into(),
                    friend_id: "bob".into(),
                    remark: Some("Bob".into()),
                    groups: None,
                    custom: vec![tag("Tag_SNS_Custom_Rank", TagValueKind::Integer(4))],
                }),
            ),
        ),
        (
            "friend_requested",
            make(
                4,
                Event::FriendRequested(FriendRequested {
                    user_id: "carol".into(),
                    friend_id: "alice".into(),
                    both: true,
                    remark: "Al".into(),
                    groups: vec!["work".into()],
                    add_source: "AddSource_Type_Web".into(),
                    add_wording: "we met at the conference".into(),
                }),
            ),
        ),
        (
            "friend_request_answered",
            make(
                5,
                Event::FriendRequestAnswered(FriendRequestAnswered {
                    user_id: "alice".into(),
                    requester: "carol".into(),
                    accepted: false,
                }),
            ),
        ),
    ]
}

/// The rest of what v5 added: a conversation pinned, marked, and read
/// receipts.
pub fn v5_conversation_events() -> Vec<(&'static str, Envelope)> {
    let origin = Origin {
        channel: Channel::Websocket,
        actor: "bob".into(),
        admin: false,
        instance: "delivery-2".into(),
    };
    let envelope = |id: &str, at: i64, event: Event| Envelope {
        event_id: Uuid::parse_str(id).expect("uuid"),
        occurred_at: at,
        origin: origin.clone(),
        event,
    };
    vec![
        (
            "conversation_pinned",
            envelope(
                "01890a5d-ac96-774b-bcce-b302099a8510",
                1_700_000_005_000,
                Event::ConversationPinned(ConversationPinned {
                    conversation_id: conversation_id("alice", "bob"),
                    user_id: "bob".into(),
                    peer: "alice".into(),
                    pinned: true,
                }),
            ),
        ),
        (
            "conversation_marked",
            envelope(
                "01890a5d-ac96-774b-bcce-b302099a8511",
                1_700_000_005_001,
                Event::ConversationMarked(ConversationMarked {
                    conversation_id: conversation_id("alice", "bob"),
                    user_id: "bob".into(),
                    peer: "alice".into(),
                    set_marks: 0b1110,
                    clear_marks: 1,
                    custom_mark: Some("abcd".into()),
                }),
            ),
        ),
        (
            "message_receipts_sent",
            envelope(
                "01890a5d-ac96-774b-bcce-b302099a8512",
                1_700_000_005_002,
                Event::MessageReceiptsSent(MessageReceiptsSent {
                    conversation_id: conversation_id("alice", "bob"),
                    reader: "bob".into(),
                    peer: "alice".into(),
                    msg_keys: vec![
                        "93847636_1287657_5f0b6c1e2a9d".into(),
                        "93847637_1287658_3a1f0e9d8c7b".into(),
                    ],
                }),
            ),
        ),
    ]
}

/// v6: a send over WebSocket with the sender's address, and a session
/// opening and closing.
pub fn v6_events() -> Vec<(&'static str, Envelope)> {
    let mut ws = text(
        "93847640_1287660_0a1b2c3d4e5f",
        "alice",
        "bob",
        "hi from my phone",
        1_700_000_006_000,
    );
    ws.client_ip = Some("203.0.113.7".into());
    let session = |user: &str, action, reason: &str| {
        Event::SessionChanged(SessionChanged {
            user_id: user.into(),
            device: "phone-1".into(),
            platform: "iOS".into(),
            action,
            reason: reason.into(),
            client_ip: Some("203.0.113.7".into()),
        })
    };
    let envelope = |id: &str, at: i64, event: Event| Envelope {
        event_id: Uuid::parse_str(id).expect("uuid"),
        occurred_at: at,
        origin: Origin {
            channel: Channel::Websocket,
            actor: "alice".into(),
            admin: false,
            instance: "delivery-1".into(),
        },
        event,
    };
    let sent = envelope(
        "01890a5d-ac96-774b-bcce-b302099a8600",
        1_700_000_006_000,
        Event::MessageSent(Box::new(ws)),
    );
    let login = envelope(
        "01890a5d-ac96-774b-bcce-b302099a8601",
        1_700_000_006_001,
        session("alice", SessionAction::Login, "logged in"),
    );
    let mut kicked = login.clone();
    kicked.event_id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8602").unwrap();
    kicked.occurred_at = 1_700_000_006_002;
    if let Event::SessionChanged(c) = &mut kicked.event {
        c.action = SessionAction::Kicked;
        c.reason = "the app administrator closed this account's sessions".into();
        c.client_ip = None;
    }
    vec![
        ("message_sent_over_websocket", sent),
        ("session_changed_login", login),
        ("session_changed_kicked", kicked),
    ]
}

/// Every named sample. Each has a golden vector under `schemas/golden/vN/`,
/// where N is the schema version that introduced its kind.
pub fn golden() -> Vec<(&'static str, Envelope)> {
    let mut all = vec![
        ("message_sent_text", text_message()),
        ("message_sent_every_element", every_element()),
    ];
    all.extend(relationship_events());
    all.extend(push_token_events());
    all.extend(v3_events());
    all.extend(v4_events());
    all.extend(v5_events());
    all.extend(v5_conversation_events());
    all.extend(v6_events());
    all
}
