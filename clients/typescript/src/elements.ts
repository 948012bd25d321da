// Message elements in Tencent IM's `MsgBody` form: the JSON the REST API,
// the WebSocket frames and the Rust SDK's `Element` all carry.

export interface TextElem {
  MsgType: "TIMTextElem";
  MsgContent: { Text: string };
}

export interface FaceElem {
  MsgType: "TIMFaceElem";
  MsgContent: { Index: number; Data?: string };
}

export interface LocationElem {
  MsgType: "TIMLocationElem";
  MsgContent: { Desc?: string; Latitude: number; Longitude: number };
}

export interface CustomElem {
  MsgType: "TIMCustomElem";
  MsgContent: { Data?: string; Desc?: string; Ext?: string; Sound?: string };
}

export interface SoundElem {
  MsgType: "TIMSoundElem";
  MsgContent: { Url: string; UUID?: string; Size: number; Second: number; Download_Flag?: number };
}

export interface ImageInfo {
  /** 1 original, 2 large, 3 thumbnail. */
  Type: 1 | 2 | 3;
  Size: number;
  Width: number;
  Height: number;
  URL: string;
}

export interface ImageElem {
  MsgType: "TIMImageElem";
  MsgContent: {
    UUID?: string;
    /** 1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other. */
    ImageFormat?: number;
    /** Original, large and thumbnail (1 to 3 entries). */
    ImageInfoArray: ImageInfo[];
  };
}

export interface FileElem {
  MsgType: "TIMFileElem";
  MsgContent: { Url: string; UUID?: string; FileSize: number; FileName: string; Download_Flag?: number };
}

export interface VideoFileElem {
  MsgType: "TIMVideoFileElem";
  MsgContent: {
    VideoUrl: string;
    VideoUUID?: string;
    VideoSize: number;
    VideoSecond: number;
    VideoFormat: string;
    VideoDownloadFlag?: number;
    ThumbUrl: string;
    ThumbUUID?: string;
    ThumbSize: number;
    ThumbWidth: number;
    ThumbHeight: number;
    ThumbFormat?: string;
    ThumbDownloadFlag?: number;
  };
}

/** System notifications: only the administrator sends them; apps receive them. */
export interface SystemElem {
  MsgType: "TIMSystemElem";
  MsgContent: { Source?: "builtin" | "operator"; Kind: string; Text?: string; Data?: string };
}

export type Element =
  | TextElem
  | FaceElem
  | LocationElem
  | CustomElem
  | SoundElem
  | ImageElem
  | FileElem
  | VideoFileElem
  | SystemElem;

/** Shorthands for the common elements. */
export const elements = {
  text: (text: string): TextElem => ({ MsgType: "TIMTextElem", MsgContent: { Text: text } }),
  face: (index: number, data = ""): FaceElem => ({ MsgType: "TIMFaceElem", MsgContent: { Index: index, Data: data } }),
  location: (latitude: number, longitude: number, desc = ""): LocationElem => ({
    MsgType: "TIMLocationElem",
    MsgContent: { Desc: desc, Latitude: latitude, Longitude: longitude },
  }),
  custom: (data: string, desc = "", ext = ""): CustomElem => ({
    MsgType: "TIMCustomElem",
    MsgContent: { Data: data, Desc: desc, Ext: ext },
  }),
};

/** A one-line description of a body, for previews and notifications. */
export function describe(body: readonly Element[]): string {
  return body
    .map((e) => {
      switch (e.MsgType) {
        case "TIMTextElem":
          return e.MsgContent.Text;
        case "TIMFaceElem":
          return `[face ${e.MsgContent.Index}]`;
        case "TIMLocationElem":
          return `[location ${e.MsgContent.Desc ?? ""}]`;
        case "TIMImageElem":
          return "[image]";
        case "TIMSoundElem":
          return `[audio ${e.MsgContent.Second}s]`;
        case "TIMFileElem":
          return `[file ${e.MsgContent.FileName}]`;
        case "TIMVideoFileElem":
          return `[video ${e.MsgContent.VideoSecond}s]`;
        case "TIMCustomElem":
          return `[custom ${e.MsgContent.Desc || e.MsgContent.Data || ""}]`;
        case "TIMSystemElem":
          return `[system ${e.MsgContent.Text || e.MsgContent.Kind}]`;
      }
    })
    .join(" ");
}
