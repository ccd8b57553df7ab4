// @tsbuild/registry: an OCI distribution-spec client.
//
//   const ref = parseReference("localhost:5000/app:1");        // Docker's naming rules
//   const client = new RegistryClient({ registryCa, insecureRegistries });
//   // pull: manifest (index -> platform), config, then each layer into a sink
//   const { image, reference } = await client.resolveImage(ref, { platform });
//   for (const layer of image.layers)
//     await client.fetchBlob(ref, layer.descriptor, (s) => store.putBlob(s, { expectedDigest: layer.descriptor.digest }));
//   // push: blobs (HEAD skip, cross-repo mount, upload) then the manifest; returns its digest
//   const { digest } = await client.pushImage(ref, image, store, { mountFrom: "library/base" });
//   await client.close();
//
// Credentials come from Docker's config.json (auths, credsStore, credHelpers) unless the
// `credentials` option replaces the lookup; login/logout edit that file. Every failure is a
// RegistryError whose `kind` says what happened (unauthorized, denied, not-found,
// digest-mismatch, insecure, network, protocol) and whose message names the registry,
// repository and tag or digest.
export { RegistryClient } from "./client.js";
export type {
  BlobPushOutcome,
  BlobSink,
  FetchedManifest,
  PushBlobOptions,
  PushedImage,
  RegistryClientOptions,
  ResolvedImage,
} from "./client.js";
export { RegistryError } from "./errors.js";
export type { RegistryErrorKind } from "./errors.js";
export { DOCKER_HUB, InvalidReferenceError, formatReference, parseReference } from "./reference.js";
export type { FormatReferenceOptions, ImageReference } from "./reference.js";
export { CredentialHelperError, defaultDockerConfigPath, login, logout, lookupCredentials } from "./credentials.js";
export type { Credentials } from "./credentials.js";
export { trustedCertificates } from "./trust.js";
