// The OCI image-spec documents, with the spec's JSON field names.
// Docker's schema 2 manifest and manifest list have the same shape, so these types read both.

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker's HEALTHCHECK; durations are nanoseconds, as Docker writes them. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters of the image config (`config` field). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface RootFS {
  type: "layers";
  diff_ids: string[];
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: HistoryEntry[];
}

/** A layer of an image: its blob descriptor and the digest of its uncompressed tar. */
export interface ImageLayer {
  descriptor: Descriptor;
  diffID: string;
}

/**
 * One image, as the exporters need it: the parsed documents, their exact bytes (the digests
 * are over these bytes, so they travel with the objects) and the layers in order.
 */
export interface OciImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: string;
  config: ImageConfig;
  configBytes: Buffer;
  configDigest: string;
  layers: ImageLayer[];
}

/** Where the blobs of an image come from (a store, an image layout, a registry cache). */
export interface BlobSource {
  openBlob(digest: string): Promise<NodeJS.ReadableStream>;
  blobSize(digest: string): Promise<number>;
}

/**
 * The uncompressed tar of a layer, by diffID. A docker archive holds layers uncompressed and
 * a tar header needs the size up front, so the size comes with the stream.
 */
export interface LayerTarSource {
  openLayerTar(diffID: string): Promise<{ size: number; stream: NodeJS.ReadableStream }>;
}
