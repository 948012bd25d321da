//! Schema evolution: the current `events.avsc` against every released version,
//! by the evolution check (Avro reader/writer compatibility both ways plus our
//! rules) and by real records flowing old → new and new → old. The negative
//! tests prove the check does fail on the changes the rules forbid.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use apache_avro::{from_avro_datum, to_avro_datum, Schema};
use missive_schemas::codec::{fingerprint_of, released_schemas, EVENTS_SCHEMA_JSON};
use missive_schemas::compat::{check, Incompatibility};
use missive_schemas::resolve::Resolver;
use missive_schemas::{samples, Envelope, EventCodec, CURRENT_VERSION, RELEASED_SCHEMAS};
use serde_json::{json, Value as Json};

fn current() -> Schema {
    Schema::parse_str(EVENTS_SCHEMA_JSON).unwrap()
}

fn current_json() -> Json {
    serde_json::from_str(EVENTS_SCHEMA_JSON).unwrap()
}

#[test]
fn every_released_version_is_on_disk_and_the_current_schema_is_the_latest() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro/released");
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let listed: BTreeSet<String> = RELEASED_SCHEMAS
        .iter()
        .map(|(v, _)| format!("events.v{v}.avsc"))
        .collect();
    assert_eq!(
        on_disk, listed,
        "avro/released/ and RELEASED_SCHEMAS differ"
    );
    let versions: Vec<u32> = RELEASED_SCHEMAS.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=CURRENT_VERSION).collect::<Vec<_>>(),
        "versions are 1..=current"
    );
    let latest = released_schemas().pop().unwrap();
    assert_eq!(
        latest.fingerprint,
        fingerprint_of(&current()),
        "events.avsc changed after v{CURRENT_VERSION} was released: copy it to \
         avro/released/events.v{}.avsc and bump CURRENT_VERSION (docs/schemas.md)",
        CURRENT_VERSION + 1
    );
}

#[test]
fn the_current_schema_passes_the_evolution_check_against_every_released_version() {
    let new = current();
    for released in released_schemas() {
        if let Err(problems) = check(&released.schema, &new) {
            panic!("v{} → current: {problems:#?}", released.version);
        }
    }
}

/// Real records, both directions: every sample written with the current
/// schema is read by every released schema (old readers skip only the kinds
/// appended after them), and what an old release writes is read back by the
/// current codec as the same event.
/// `envelope` as a record written by `version` holds it: the fields added
/// after that version (with defaults) read back as their defaults.
fn as_kept_by(version: u32, envelope: &Envelope) -> Envelope {
    let mut kept = envelope.clone();
    if version < 3 {
        if let missive_schemas::Event::MessageSent(m) = &mut kept.event {
            m.before_send_callback = None;
            m.forbid_after_send_callback = false;
        }
    }
    if version < 4 {
        if let missive_schemas::Event::MessageSent(m) = &mut kept.event {
            // SendMsgControl, added in v4.
            m.no_unread = false;
            m.no_last_msg = false;
        }
    }
    if version < 5 {
        // Profile tags and friend data, added in v5.
        match &mut kept.event {
            missive_schemas::Event::ProfileUpdated(p) => p.fields.clear(),
            missive_schemas::Event::FriendAdded(f) => {
                *f = missive_schemas::FriendAdded::plain(
                    f.user_id.clone(),
                    f.friend_id.clone(),
                    f.both,
                )
            }
            _ => {}
        }
    }
    if version < 6 {
        if let missive_schemas::Event::MessageSent(m) = &mut kept.event {
            // The sender's address, added in v6.
            m.client_ip = None;
        }
    }
    kept
}

#[test]
fn records_flow_between_every_released_version_and_the_current_schema() {
    let codec = EventCodec::get();
    let new = current();
    for released in released_schemas() {
        let forward = Resolver::new(&new, &released.schema).unwrap();
        let backward = Resolver::new(&released.schema, &new).unwrap();
        let kinds = union_names(&released.schema);
        let mut read = 0;
        for (name, envelope) in samples::golden() {
            let bytes = to_avro_datum(&new, envelope.to_value()).unwrap();
            let value = from_avro_datum(&new, &mut &bytes[..], None).unwrap();
            let kind = format!("missive.events.{}", envelope.event.kind());
            match forward.resolve(value) {
                Ok(old_value) => {
                    assert!(
                        kinds.contains(&kind),
                        "{name}: v{} read a kind it lacks",
                        released.version
                    );
                    assert!(
                        old_value.validate(&released.schema),
                        "{name}: v{} value",
                        released.version
                    );
                    // The old release writes it; the current codec reads it back.
                    let old_bytes = to_avro_datum(&released.schema, old_value).unwrap();
                    let mut record = vec![0xC3, 0x01];
                    record.extend_from_slice(&released.fingerprint);
                    record.extend_from_slice(&old_bytes);
                    // Fields a release lacks come back as their defaults.
                    let expected = as_kept_by(released.version, &envelope);
                    assert_eq!(
                        codec.decode(&record).unwrap(),
                        expected,
                        "{name}: v{} → current",
                        released.version
                    );
                    let back =
                        from_avro_datum(&released.schema, &mut &old_bytes[..], None).unwrap();
                    let resolved = backward.resolve(back).unwrap();
                    assert_eq!(Envelope::from_value(resolved).unwrap(), expected);
                    read += 1;
                }
                Err(e) => {
                    // The documented exception: a kind appended after this release.
                    assert!(
                        !kinds.contains(&kind),
                        "{name}: v{} cannot read it: {e}",
                        released.version
                    );
                    assert!(e.to_string().contains("union has no branch"), "{name}: {e}");
                }
            }
        }
        assert!(read >= 11, "v{}: read {read} samples", released.version);
    }
}

#[test]
fn unknown_fingerprints_are_refused_with_the_known_ones_listed() {
    let codec = EventCodec::get();
    let mut bytes = codec.encode(&samples::text_message());
    bytes[2..10].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let e = codec.decode(&bytes).unwrap_err().to_string();
    assert!(e.contains("fingerprint 0102030405060708"), "{e}");
    for r in released_schemas() {
        assert!(e.contains(&format!("v{} ", r.version)), "{e}");
    }
}

fn union_names(schema: &Schema) -> BTreeSet<String> {
    let Schema::Record(envelope) = schema else {
        panic!("Envelope is a record")
    };
    let event = &envelope.fields[envelope.lookup["event"]].schema;
    let Schema::Union(u) = event else {
        panic!("event is a union")
    };
    u.variants()
        .iter()
        .map(|v| v.name().unwrap().fullname(None))
        .collect()
}

// ---- the check can fail ----

/// The record named `name` anywhere in a schema's JSON.
fn record_mut<'a>(json: &'a mut Json, name: &str) -> &'a mut Json {
    fn find<'a>(json: &'a mut Json, name: &str) -> Option<&'a mut Json> {
        if json.get("type") == Some(&json!("record")) && json.get("name") == Some(&json!(name)) {
            return Some(json);
        }
        match json {
            Json::Object(map) => map.values_mut().find_map(|v| find(v, name)),
            Json::Array(items) => items.iter_mut().find_map(|v| find(v, name)),
            _ => None,
        }
    }
    find(json, name).unwrap_or_else(|| panic!("no record {name}"))
}

fn fields_mut<'a>(json: &'a mut Json, record: &str) -> &'a mut Vec<Json> {
    record_mut(json, record)["fields"].as_array_mut().unwrap()
}

fn event_union_mut(json: &mut Json) -> &mut Vec<Json> {
    json["fields"][3]["type"].as_array_mut().unwrap()
}

/// The problems the check finds when `change` is applied to the current schema.
fn problems_after(change: impl FnOnce(&mut Json)) -> Vec<Incompatibility> {
    let mut json = current_json();
    change(&mut json);
    let changed = Schema::parse_str(&json.to_string()).expect("the changed schema parses");
    check(&current(), &changed).expect_err("the check must refuse this change")
}

#[test]
fn check_fails_on_a_field_added_without_default() {
    let problems = problems_after(|s| {
        fields_mut(s, "ConversationRead").push(json!({"name": "device", "type": "string"}));
    });
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Incompatibility::Backward(e) if e.contains("device"))),
        "{problems:#?}"
    );
}

#[test]
fn check_fails_on_a_renamed_field_even_with_a_default() {
    let problems = problems_after(|s| {
        let fields = fields_mut(s, "ConversationRead");
        fields[1] = json!({"name": "reader_id", "type": "string", "default": ""});
    });
    assert!(
        problems.contains(&Incompatibility::FieldRemoved {
            path: "$.event[missive.events.ConversationRead]".into(),
            field: "reader".into()
        }),
        "{problems:#?}"
    );
}

#[test]
fn check_fails_on_a_reordered_union() {
    let problems = problems_after(|s| event_union_mut(s).swap(3, 4));
    assert!(
        problems.iter().any(
            |p| matches!(p, Incompatibility::UnionReordered { path, .. } if path == "$.event")
        ),
        "{problems:#?}"
    );
}

#[test]
fn check_fails_on_a_removed_event_kind() {
    let problems = problems_after(|s| {
        event_union_mut(s).pop();
    });
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Incompatibility::Backward(_))),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Incompatibility::UnionReordered { .. })),
        "{problems:#?}"
    );
}

#[test]
fn check_fails_on_a_changed_field_type() {
    let problems = problems_after(|s| {
        fields_mut(s, "AccountImported")[1] = json!({"name": "nickname", "type": "long"});
    });
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Incompatibility::Backward(_))),
        "{problems:#?}"
    );
}

#[test]
fn check_fails_on_an_enum_symbol_old_readers_cannot_map() {
    // Decision has no default, so a v2 reader could not read a new symbol.
    let problems = problems_after(|s| {
        let fields = fields_mut(s, "MessageSent");
        let decision = fields.iter_mut().find(|f| f["name"] == "decision").unwrap();
        decision["type"]["symbols"]
            .as_array_mut()
            .unwrap()
            .push(json!("DROP_SPAM"));
    });
    assert!(
        problems
            .iter()
            .any(|p| matches!(p, Incompatibility::Forward(_))),
        "{problems:#?}"
    );
}

/// The documented exception, and the allowed changes, pass.
#[test]
fn check_accepts_an_appended_kind_and_a_field_with_a_default() {
    let mut json = current_json();
    event_union_mut(&mut json).push(json!({
        "type": "record", "name": "SomethingNew",
        "fields": [{"name": "user_id", "type": "string"}]
    }));
    fields_mut(&mut json, "ConversationRead")
        .push(json!({"name": "device", "type": "string", "default": ""}));
    let channel = &mut record_mut(&mut json, "Origin")["fields"][0]["type"]["symbols"];
    channel.as_array_mut().unwrap().push(json!("BATCH"));
    let changed = Schema::parse_str(&json.to_string()).unwrap();
    check(&current(), &changed).unwrap();
}

#[test]
fn event_kinds_are_named_in_the_order_of_the_union() {
    let names: Vec<String> = {
        let Schema::Record(envelope) = current() else {
            panic!("Envelope is a record")
        };
        let event = &envelope.fields[envelope.lookup["event"]].schema;
        let Schema::Union(u) = event else {
            panic!("event is a union")
        };
        u.variants()
            .iter()
            .map(|v| v.name().unwrap().name.clone())
            .collect()
    };
    assert_eq!(names, missive_schemas::Event::KINDS);
    for (_, env) in samples::golden() {
        assert!(missive_schemas::Event::KINDS.contains(&env.event.kind()));
    }
}

/// `avro/fingerprints.json` lets readers without missive map every header
/// (including v1's legacy fingerprints) to its schema file.
#[test]
fn the_published_fingerprint_table_matches_the_codec() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro");
    let table: Json =
        serde_json::from_str(&fs::read_to_string(dir.join("fingerprints.json")).unwrap()).unwrap();
    let mut want = serde_json::Map::new();
    for r in released_schemas() {
        let file = Json::String(format!("released/events.v{}.avsc", r.version));
        for fp in [r.fingerprint, r.legacy_fingerprint] {
            let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
            want.insert(hex, file.clone());
        }
    }
    assert_eq!(table["events"], Json::Object(want));
}
