// Media types of the OCI image-spec and of Docker's image manifest schema 2.
// Readers accept both families; the builders in this package write OCI.

export const MediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

export type MediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest;
}

/** How a layer blob is compressed, from its media type; undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): "none" | "gzip" | "zstd" | undefined {
  switch (mediaType) {
    case MediaTypes.ociLayer:
    case MediaTypes.dockerLayer:
      return "none";
    case MediaTypes.ociLayerGzip:
    case MediaTypes.dockerLayerGzip:
    case MediaTypes.dockerForeignLayerGzip:
      return "gzip";
    case MediaTypes.ociLayerZstd:
      return "zstd";
    default:
      return undefined;
  }
}

/** The annotation an OCI image layout uses to name a manifest in index.json. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
