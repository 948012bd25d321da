//! Tencent IM's `MsgBody` JSON ⇄ the event model's elements.
//!
//! Parsing validates everything a client can get wrong and says precisely
//! what: unknown `MsgType`, a field of the wrong type, a size or coordinate
//! out of range, a malformed URL. Rendering produces the JSON that REST
//! replies and WebSocket frames carry, so both sides agree on one mapping.

use serde_json::{json, Map, Value};

use missive_schemas::{
    CustomElem, Element, FaceElem, FileElem, ImageElem, ImageInfo, LocationElem, SoundElem,
    SystemElem, SystemSource, TextElem, VideoFileElem,
};

use crate::api_error::{ApiError, ErrorCode};
use crate::storable;

/// Image and audio files may be at most 28 MB, files and videos 100 MB.
pub const MAX_IMAGE_BYTES: i64 = 28 * 1024 * 1024;
pub const MAX_SOUND_BYTES: i64 = 28 * 1024 * 1024;
pub const MAX_FILE_BYTES: i64 = 100 * 1024 * 1024;
pub const MAX_VIDEO_BYTES: i64 = 100 * 1024 * 1024;
/// Longest offline lifetime of anything in an inbox: 7 days.
pub const MAX_OFFLINE_SECONDS: i32 = 604_800;
/// Elements in one message at most.
pub const MAX_ELEMENTS: usize = 32;
const MAX_URL_LEN: usize = 2048;

/// Who is sending decides whether system notifications are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Admin,
    User,
}

/// Parses and validates a Tencent `MsgBody`.
pub fn parse(body: &Value, sender: Sender) -> Result<Vec<Element>, ApiError> {
    let items = body.as_array().ok_or_else(|| {
        ApiError::new(
            ErrorCode::MsgBodyNotArray,
            "MsgBody must be an array of elements",
        )
    })?;
    if items.is_empty() {
        return Err(ApiError::new(ErrorCode::MsgBodyFormat, "MsgBody is empty"));
    }
    if items.len() > MAX_ELEMENTS {
        return Err(ApiError::new(
            ErrorCode::MsgBodyFormat,
            format!(
                "MsgBody has {} elements; at most {MAX_ELEMENTS} are allowed",
                items.len()
            ),
        ));
    }
    let mut elements = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        elements.push(parse_element(i, item, sender)?);
    }
    let customs = elements
        .iter()
        .filter(|e| matches!(e, Element::Custom(_)))
        .count();
    if customs > 1 {
        return Err(ApiError::new(
            ErrorCode::ElementFormat,
            "a message may carry at most one TIMCustomElem",
        ));
    }
    Ok(elements)
}

fn parse_element(i: usize, item: &Value, sender: Sender) -> Result<Element, ApiError> {
    let obj = item.as_object().ok_or_else(|| {
        ApiError::new(
            ErrorCode::MsgBodyFormat,
            format!("MsgBody[{i}] must be an object"),
        )
    })?;
    let msg_type = match obj.get("MsgType") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(format_err(format!("MsgBody[{i}].MsgType must be a string"))),
        None => return Err(format_err(format!("MsgBody[{i}].MsgType is missing"))),
    };
    let content = match obj.get("MsgContent") {
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(format_err(format!(
                "MsgBody[{i}].MsgContent must be an object"
            )))
        }
        None => return Err(format_err(format!("MsgBody[{i}].MsgContent is missing"))),
    };
    let f = Fields {
        at: format!("MsgBody[{i}].MsgContent"),
        map: content,
    };
    Ok(match msg_type {
        "TIMTextElem" => Element::Text(TextElem {
            text: f.string("Text")?,
        }),
        "TIMFaceElem" => Element::Face(FaceElem {
            index: f.int("Index", i64::from(i32::MIN), i64::from(i32::MAX))?,
            data: f.opt_string("Data")?,
        }),
        "TIMLocationElem" => Element::Location(LocationElem {
            desc: f.opt_string("Desc")?,
            latitude: f.float("Latitude", -90.0, 90.0)?,
            longitude: f.float("Longitude", -180.0, 180.0)?,
        }),
        "TIMImageElem" => {
            let infos = f.array("ImageInfoArray")?;
            if infos.is_empty() || infos.len() > 3 {
                return Err(format_err(format!(
                    "{}.ImageInfoArray must hold 1 to 3 images (original, large, thumbnail)",
                    f.at
                )));
            }
            let mut images = Vec::with_capacity(infos.len());
            for (j, info) in infos.iter().enumerate() {
                let map = info.as_object().ok_or_else(|| {
                    format_err(format!("{}.ImageInfoArray[{j}] must be an object", f.at))
                })?;
                let g = Fields {
                    at: format!("{}.ImageInfoArray[{j}]", f.at),
                    map,
                };
                images.push(ImageInfo {
                    r#type: g.int("Type", 1, 3)? as i32,
                    size: g.size("Size", MAX_IMAGE_BYTES, "an image")?,
                    width: g.int("Width", 0, 100_000)? as i32,
                    height: g.int("Height", 0, 100_000)? as i32,
                    url: g.url("URL")?,
                });
            }
            Element::Image(ImageElem {
                uuid: f.opt_string("UUID")?,
                image_format: f.opt_int("ImageFormat", 0, 255)?.unwrap_or(255) as i32,
                images,
            })
        }
        "TIMSoundElem" => Element::Sound(SoundElem {
            url: f.url("Url")?,
            uuid: f.opt_string("UUID")?,
            size: f.size("Size", MAX_SOUND_BYTES, "an audio file")?,
            second: f.int("Second", 0, 86_400)? as i32,
            download_flag: f.opt_int("Download_Flag", 0, 2)?.unwrap_or(2) as i32,
        }),
        "TIMFileElem" => Element::File(FileElem {
            url: f.url("Url")?,
            uuid: f.opt_string("UUID")?,
            file_size: f.size("FileSize", MAX_FILE_BYTES, "a file")?,
            file_name: f.string("FileName")?,
            download_flag: f.opt_int("Download_Flag", 0, 2)?.unwrap_or(2) as i32,
        }),
        "TIMVideoFileElem" => Element::VideoFile(VideoFileElem {
            video_url: f.url("VideoUrl")?,
            video_uuid: f.opt_string("VideoUUID")?,
            video_size: f.size("VideoSize", MAX_VIDEO_BYTES, "a video")?,
            video_second: f.int("VideoSecond", 0, 86_400)? as i32,
            video_format: f.string("VideoFormat")?,
            video_download_flag: f.opt_int("VideoDownloadFlag", 0, 2)?.unwrap_or(2) as i32,
            thumb_url: f.url("ThumbUrl")?,
            thumb_uuid: f.opt_string("ThumbUUID")?,
            thumb_size: f.size("ThumbSize", MAX_IMAGE_BYTES, "a thumbnail")?,
            thumb_width: f.int("ThumbWidth", 0, 100_000)? as i32,
            thumb_height: f.int("ThumbHeight", 0, 100_000)? as i32,
            thumb_format: f.opt_string("ThumbFormat")?,
            thumb_download_flag: f.opt_int("ThumbDownloadFlag", 0, 2)?.unwrap_or(2) as i32,
        }),
        "TIMCustomElem" => Element::Custom(CustomElem {
            data: f.opt_string("Data")?,
            desc: f.opt_string("Desc")?,
            ext: f.opt_string("Ext")?,
            sound: f.opt_string("Sound")?,
        }),
        "TIMSystemElem" => {
            if sender != Sender::Admin {
                return Err(ApiError::new(
                    ErrorCode::MsgAdminRequired,
                    "only the app administrator may send TIMSystemElem",
                ));
            }
            let kind = f.string("Kind")?;
            if kind.is_empty() || kind.starts_with("missive.") {
                return Err(format_err(format!(
                    "{}.Kind must be non-empty and must not start with `missive.` (reserved for built-in kinds)",
                    f.at
                )));
            }
            Element::System(SystemElem {
                source: SystemSource::Operator,
                kind,
                text: f.opt_string("Text")?,
                data: f.opt_string("Data")?,
            })
        }
        other => {
            return Err(format_err(format!(
                "MsgBody[{i}].MsgType `{}` is not a known element type",
                truncate(other, 64)
            )))
        }
    })
}

fn format_err(info: String) -> ApiError {
    ApiError::new(ErrorCode::ElementFormat, info)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

struct Fields<'a> {
    at: String,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    /// Every string of an element is read here, so none that the views
    /// cannot store gets through (see [`crate::storable`]).
    fn stored(&self, name: &str, s: &str) -> Result<String, ApiError> {
        storable::check_field(&format!("{}.{name}", self.at), s, ErrorCode::ElementFormat)?;
        Ok(s.to_owned())
    }

    fn string(&self, name: &str) -> Result<String, ApiError> {
        match self.map.get(name) {
            Some(Value::String(s)) => self.stored(name, s),
            Some(_) => Err(format_err(format!("{}.{name} must be a string", self.at))),
            None => Err(format_err(format!("{}.{name} is missing", self.at))),
        }
    }

    fn opt_string(&self, name: &str) -> Result<String, ApiError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => self.stored(name, s),
            Some(_) => Err(format_err(format!("{}.{name} must be a string", self.at))),
        }
    }

    fn int(&self, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        self.opt_int(name, min, max)?
            .ok_or_else(|| format_err(format!("{}.{name} is missing", self.at)))
    }

    fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                Some(v) => Err(format_err(format!(
                    "{}.{name} is {v}; it must be between {min} and {max}",
                    self.at
                ))),
                None => Err(format_err(format!("{}.{name} must be an integer", self.at))),
            },
            Some(_) => Err(format_err(format!("{}.{name} must be an integer", self.at))),
        }
    }

    fn float(&self, name: &str, min: f64, max: f64) -> Result<f64, ApiError> {
        match self.map.get(name) {
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if v.is_finite() && (min..=max).contains(&v) {
                    Ok(v)
                } else {
                    Err(format_err(format!(
                        "{}.{name} is {n}; it must be between {min} and {max}",
                        self.at
                    )))
                }
            }
            Some(_) => Err(format_err(format!("{}.{name} must be a number", self.at))),
            None => Err(format_err(format!("{}.{name} is missing", self.at))),
        }
    }

    /// A declared file size in bytes, at most `max`.
    fn size(&self, name: &str, max: i64, what: &str) -> Result<i64, ApiError> {
        let v = self.int(name, 0, i64::MAX).map_err(|e| {
            if e.info.ends_with("missing") {
                e
            } else {
                format_err(format!("{}.{name} must be a non-negative integer", self.at))
            }
        })?;
        if v > max {
            return Err(format_err(format!(
                "{}.{name} is {v} bytes; {what} may be at most {max} bytes ({} MB)",
                self.at,
                max / (1024 * 1024)
            )));
        }
        Ok(v)
    }

    fn array(&self, name: &str) -> Result<&Vec<Value>, ApiError> {
        match self.map.get(name) {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(format_err(format!("{}.{name} must be an array", self.at))),
            None => Err(format_err(format!("{}.{name} is missing", self.at))),
        }
    }

    /// An absolute http(s) URL.
    fn url(&self, name: &str) -> Result<String, ApiError> {
        let s = self.string(name)?;
        if s.len() > MAX_URL_LEN {
            return Err(format_err(format!(
                "{}.{name} is {} bytes long; URLs may be at most {MAX_URL_LEN}",
                self.at,
                s.len()
            )));
        }
        match url::Url::parse(&s) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => Ok(s),
            Ok(_) => Err(format_err(format!(
                "{}.{name} must be an http or https URL with a host",
                self.at
            ))),
            Err(e) => Err(format_err(format!(
                "{}.{name} is not a well-formed URL: {e}",
                self.at
            ))),
        }
    }
}

/// Renders elements as a Tencent `MsgBody`.
pub fn render(elements: &[Element]) -> Value {
    Value::Array(elements.iter().map(render_element).collect())
}

fn render_element(e: &Element) -> Value {
    let content = match e {
        Element::Text(t) => json!({ "Text": t.text }),
        Element::Face(f) => json!({ "Index": f.index, "Data": f.data }),
        Element::Location(l) => {
            json!({ "Desc": l.desc, "Latitude": l.latitude, "Longitude": l.longitude })
        }
        Element::Image(i) => json!({
            "UUID": i.uuid,
            "ImageFormat": i.image_format,
            "ImageInfoArray": i.images.iter().map(|x| json!({
                "Type": x.r#type, "Size": x.size, "Width": x.width, "Height": x.height, "URL": x.url,
            })).collect::<Vec<_>>(),
        }),
        Element::Sound(s) => json!({
            "Url": s.url, "UUID": s.uuid, "Size": s.size, "Second": s.second, "Download_Flag": s.download_flag,
        }),
        Element::File(f) => json!({
            "Url": f.url, "UUID": f.uuid, "FileSize": f.file_size, "FileName": f.file_name,
            "Download_Flag": f.download_flag,
        }),
        Element::VideoFile(v) => json!({
            "VideoUrl": v.video_url, "VideoUUID": v.video_uuid, "VideoSize": v.video_size,
            "VideoSecond": v.video_second, "VideoFormat": v.video_format,
            "VideoDownloadFlag": v.video_download_flag, "ThumbUrl": v.thumb_url,
            "ThumbUUID": v.thumb_uuid, "ThumbSize": v.thumb_size, "ThumbWidth": v.thumb_width,
            "ThumbHeight": v.thumb_height, "ThumbFormat": v.thumb_format,
            "ThumbDownloadFlag": v.thumb_download_flag,
        }),
        Element::Custom(c) => {
            json!({ "Data": c.data, "Desc": c.desc, "Ext": c.ext, "Sound": c.sound })
        }
        Element::System(s) => json!({
            "Source": match s.source { SystemSource::Builtin => "builtin", SystemSource::Operator => "operator" },
            "Kind": s.kind, "Text": s.text, "Data": s.data,
        }),
    };
    json!({ "MsgType": e.msg_type(), "MsgContent": content })
}

#[cfg(test)]
mod tests {
    use super::*;
    use missive_schemas::samples;

    fn code_of(body: Value) -> u32 {
        parse(&body, Sender::Admin).unwrap_err().code.code()
    }

    #[test]
    fn every_element_type_round_trips_through_tencent_json() {
        let env = samples::every_element();
        let missive_schemas::Event::MessageSent(m) = env.event else {
            unreachable!("every_element() is a MessageSent")
        };
        let json = render(&m.body);
        assert_eq!(parse(&json, Sender::Admin).unwrap(), m.body);
    }

    #[test]
    fn shape_errors_have_precise_codes() {
        assert_eq!(code_of(json!({"MsgType": "TIMTextElem"})), 90007);
        assert_eq!(code_of(json!([])), 90002);
        assert_eq!(code_of(json!([1])), 90002);
        assert_eq!(
            code_of(json!([{"MsgType": "TIMHologramElem", "MsgContent": {}}])),
            90010
        );
        assert_eq!(
            code_of(json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}])),
            90010
        );
        let err = parse(
            &json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]),
            Sender::Admin,
        )
        .unwrap_err();
        assert_eq!(err.info, "MsgBody[0].MsgContent.Text must be a string");
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        let image = |size: i64| {
            json!([{"MsgType": "TIMImageElem", "MsgContent": {"ImageFormat": 1, "ImageInfoArray": [
                {"Type": 1, "Size": size, "Width": 10, "Height": 10, "URL": "https://x.example/a.png"}]}}])
        };
        assert!(parse(&image(MAX_IMAGE_BYTES), Sender::User).is_ok());
        assert_eq!(code_of(image(MAX_IMAGE_BYTES + 1)), 90010);
        let file = |size: i64| json!([{"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x.example/f", "FileSize": size, "FileName": "f"}}]);
        assert!(parse(&file(MAX_FILE_BYTES), Sender::User).is_ok());
        assert_eq!(code_of(file(MAX_FILE_BYTES + 1)), 90010);
        let loc = |lat: f64, lon: f64| json!([{"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "", "Latitude": lat, "Longitude": lon}}]);
        assert!(parse(&loc(90.0, -180.0), Sender::User).is_ok());
        assert_eq!(code_of(loc(90.0001, 0.0)), 90010);
        assert_eq!(code_of(loc(0.0, 180.5)), 90010);
        let sound_url = |url: &str| json!([{"MsgType": "TIMSoundElem", "MsgContent": {"Url": url, "Size": 1, "Second": 1}}]);
        assert!(parse(&sound_url("https://cdn.example.com/a.m4a"), Sender::User).is_ok());
        assert_eq!(code_of(sound_url("ftp://cdn.example.com/a.m4a")), 90010);
        assert_eq!(code_of(sound_url("not a url")), 90010);
    }

    #[test]
    fn a_string_the_views_cannot_store_is_refused_naming_its_field() {
        let nul = "nul \u{0} inside";
        let cases = [
            (
                json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": nul}}]),
                "MsgBody[0].MsgContent.Text",
            ),
            (
                json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "ok"}},
                    {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "{}", "Ext": nul}}]),
                "MsgBody[1].MsgContent.Ext",
            ),
            (
                json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Desc": nul}}]),
                "MsgBody[0].MsgContent.Desc",
            ),
            (
                json!([{"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": nul}}]),
                "MsgBody[0].MsgContent.Data",
            ),
            (
                json!([{"MsgType": "TIMLocationElem", "MsgContent": {"Desc": nul, "Latitude": 1.0, "Longitude": 1.0}}]),
                "MsgBody[0].MsgContent.Desc",
            ),
            (
                json!([{"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x.example/f", "FileSize": 1, "FileName": nul}}]),
                "MsgBody[0].MsgContent.FileName",
            ),
            (
                json!([{"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "promo", "Data": nul}}]),
                "MsgBody[0].MsgContent.Data",
            ),
        ];
        for (body, field) in cases {
            let e = parse(&body, Sender::Admin).unwrap_err();
            assert_eq!(e.code, ErrorCode::ElementFormat, "{body}");
            assert_eq!(
                e.info,
                format!("{field} holds U+0000 (NUL) at byte 4, which PostgreSQL cannot store")
            );
        }
        // Everything else a string can hold is kept as it is.
        let odd = "\u{1}\u{fffe}\u{ffff}😀\u{10ffff}\\u0000";
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": odd}}]);
        assert_eq!(
            parse(&body, Sender::User).unwrap(),
            vec![Element::Text(TextElem {
                text: odd.to_owned()
            })]
        );
    }

    #[test]
    fn at_most_one_custom_element_and_system_only_from_admin() {
        let custom = json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "x"}});
        assert_eq!(code_of(json!([custom.clone(), custom])), 90010);
        let system =
            json!([{"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "promo", "Text": "hi"}}]);
        assert!(parse(&system, Sender::Admin).is_ok());
        assert_eq!(
            parse(&system, Sender::User).unwrap_err().code,
            ErrorCode::MsgAdminRequired
        );
        let reserved =
            json!([{"MsgType": "TIMSystemElem", "MsgContent": {"Kind": "missive.friend_added"}}]);
        assert_eq!(code_of(reserved), 90010);
    }
}
