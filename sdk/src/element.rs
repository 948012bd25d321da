//! Message elements in Tencent IM's `MsgBody` form (`{"MsgType": ..., "MsgContent": {...}}`),
//! the same JSON the REST API and the WebSocket frames carry.

use serde::{Deserialize, Serialize};

/// One element of a message body. Optional fields the server fills with
/// defaults (`UUID`, download flags, ...) are plain values here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "MsgType", content = "MsgContent")]
pub enum Element {
    #[serde(rename = "TIMTextElem")]
    Text {
        #[serde(rename = "Text")]
        text: String,
    },
    #[serde(rename = "TIMFaceElem")]
    Face {
        #[serde(rename = "Index")]
        index: i32,
        #[serde(rename = "Data", default)]
        data: String,
    },
    #[serde(rename = "TIMLocationElem")]
    Location {
        #[serde(rename = "Desc", default)]
        desc: String,
        #[serde(rename = "Latitude")]
        latitude: f64,
        #[serde(rename = "Longitude")]
        longitude: f64,
    },
    #[serde(rename = "TIMCustomElem")]
    Custom {
        #[serde(rename = "Data", default)]
        data: String,
        #[serde(rename = "Desc", default)]
        desc: String,
        #[serde(rename = "Ext", default)]
        ext: String,
        #[serde(rename = "Sound", default)]
        sound: String,
    },
    #[serde(rename = "TIMSoundElem")]
    Sound {
        #[serde(rename = "Url")]
        url: String,
        #[serde(rename = "UUID", default)]
        uuid: String,
        #[serde(rename = "Size")]
        size: i64,
        #[serde(rename = "Second")]
        second: i32,
        #[serde(rename = "Download_Flag", default = "download_flag")]
        download_flag: i32,
    },
    #[serde(rename = "TIMImageElem")]
    Image {
        #[serde(rename = "UUID", default)]
        uuid: String,
        /// 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other.
        #[serde(rename = "ImageFormat", default = "image_format")]
        image_format: i32,
        /// Original, large and thumbnail (1 to 3 entries).
        #[serde(rename = "ImageInfoArray")]
        images: Vec<ImageInfo>,
    },
    #[serde(rename = "TIMFileElem")]
    File {
        #[serde(rename = "Url")]
        url: String,
        #[serde(rename = "UUID", default)]
        uuid: String,
        #[serde(rename = "FileSize")]
        file_size: i64,
        #[serde(rename = "FileName")]
        file_name: String,
        #[serde(rename = "Download_Flag", default = "download_flag")]
        download_flag: i32,
    },
    #[serde(rename = "TIMVideoFileElem")]
    Video(Box<VideoElem>),
    /// System notifications: only the administrator sends them; apps receive them.
    #[serde(rename = "TIMSystemElem")]
    System {
        #[serde(rename = "Source", default)]
        source: String,
        #[serde(rename = "Kind")]
        kind: String,
        #[serde(rename = "Text", default)]
        text: String,
        #[serde(rename = "Data", default)]
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// 1 original, 2 large, 3 thumbnail.
    #[serde(rename = "Type")]
    pub kind: i32,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "Width")]
    pub width: i32,
    #[serde(rename = "Height")]
    pub height: i32,
    #[serde(rename = "URL")]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoElem {
    #[serde(rename = "VideoUrl")]
    pub video_url: String,
    #[serde(rename = "VideoUUID", default)]
    pub video_uuid: String,
    #[serde(rename = "VideoSize")]
    pub video_size: i64,
    #[serde(rename = "VideoSecond")]
    pub video_second: i32,
    #[serde(rename = "VideoFormat")]
    pub video_format: String,
    #[serde(rename = "VideoDownloadFlag", default = "download_flag")]
    pub video_download_flag: i32,
    #[serde(rename = "ThumbUrl")]
    pub thumb_url: String,
    #[serde(rename = "ThumbUUID", default)]
    pub thumb_uuid: String,
    #[serde(rename = "ThumbSize")]
    pub thumb_size: i64,
    #[serde(rename = "ThumbWidth")]
    pub thumb_width: i32,
    #[serde(rename = "ThumbHeight")]
    pub thumb_height: i32,
    #[serde(rename = "ThumbFormat", default)]
    pub thumb_format: String,
    #[serde(rename = "ThumbDownloadFlag", default = "download_flag")]
    pub thumb_download_flag: i32,
}

fn download_flag() -> i32 {
    2
}
fn image_format() -> i32 {
    255
}

impl Element {
    pub fn text(text: impl Into<String>) -> Self {
        Element::Text { text: text.into() }
    }

    /// Tencent's `MsgType` of this element.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Element::Text { .. } => "TIMTextElem",
            Element::Face { .. } => "TIMFaceElem",
            Element::Location { .. } => "TIMLocationElem",
            Element::Custom { .. } => "TIMCustomElem",
            Element::Sound { .. } => "TIMSoundElem",
            Element::Image { .. } => "TIMImageElem",
            Element::File { .. } => "TIMFileElem",
            Element::Video(_) => "TIMVideoFileElem",
            Element::System { .. } => "TIMSystemElem",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_use_tencent_json() {
        let e = Element::text("hi");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}})
        );
        let img: Element = serde_json::from_value(serde_json::json!({"MsgType": "TIMImageElem",
            "MsgContent": {"ImageInfoArray": [{"Type": 1, "Size": 5, "Width": 1, "Height": 2, "URL": "https://x.example/a"}]}}))
        .unwrap();
        assert_eq!(img.msg_type(), "TIMImageElem");
        let bad = serde_json::from_value::<Element>(
            serde_json::json!({"MsgType": "TIMHologramElem", "MsgContent": {}}),
        );
        assert!(bad.is_err());
    }
}
