// `tsbuild pull`, `push`, `login`, `logout`, and the registry options they share with `build`.
// The packages that do the work are loaded by the handlers (`await import`).
import type { RegistryClient, RegistryClientOptions } from "@tsbuild/registry";
import { defineCommand } from "./args.js";
import { UsageError, type OptionTable, type OptionValues } from "./command-line.js";
import { platformOption } from "./platform.js";
import { storeRoot } from "./store-commands.js";

/** The options every command that talks to registries takes. */
export const registryOptionTable = {
  "insecure-registry": {
    type: "string",
    multiple: true,
    describe: "Allow plain HTTP (or an untrusted certificate) for this registry host[:port]; localhost and 127.0.0.0/8 always may",
  },
  "registry-ca": { type: "string", describe: "PEM file of an extra CA trusted for registries" },
} as const satisfies OptionTable;

export type RegistryArgs = OptionValues<typeof registryOptionTable>;

export function registryOptions(args: RegistryArgs): RegistryClientOptions {
  return { insecureRegistries: args["insecure-registry"], ...(args["registry-ca"] ? { registryCa: args["registry-ca"] } : {}) };
}

async function withClient<T>(args: RegistryArgs, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  const { RegistryClient } = await import("@tsbuild/registry");
  const client = new RegistryClient(registryOptions(args));
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export const pullCommand = defineCommand({
  name: "pull",
  describe: "Pull an image from a registry into the local image store",
  positionals: [{ name: "name", required: true, describe: "Image reference, e.g. registry:5000/app:1 or busybox" }],
  options: { ...registryOptionTable, platform: { type: "string", describe: "os/arch[/variant] to pull from a multi-platform image" } },
  run: async (args) => {
    const platform = await platformOption(args.platform);
    const root = await storeRoot(args);
    const { pullImage } = await import("@tsbuild/core");
    const { openStore } = await import("@tsbuild/store");
    const store = await openStore(root);
    const pulled = await withClient(args, (client) => pullImage(store, client, args.name, platform));
    process.stdout.write(`${pulled.name}: ${pulled.manifestDigest}\nimage ID ${pulled.configDigest}\n`);
  },
});

export const pushCommand = defineCommand({
  name: "push",
  describe: "Push an image from the local image store to a registry (gzip layers, blobs the registry has are skipped)",
  positionals: [
    { name: "name", required: true, describe: "Local image name" },
    { name: "destination", describe: "Where to push it (default: its own name)" },
  ],
  options: registryOptionTable,
  run: async (args) => {
    const root = await storeRoot(args);
    const { pushToRegistry } = await import("@tsbuild/core");
    const { openStore } = await import("@tsbuild/store");
    const store = await openStore(root);
    const digest = await withClient(args, (client) => pushToRegistry(store, client, args.name, args.destination ?? args.name));
    process.stdout.write(`${args.destination ?? args.name}: pushed ${digest}\n`);
  },
});

export const loginCommand = defineCommand({
  name: "login",
  describe: "Check credentials against a registry and store them in Docker's config.json",
  positionals: [{ name: "registry", required: true, describe: "Registry host[:port]" }],
  options: {
    ...registryOptionTable,
    username: { type: "string", short: "u", describe: "User name" },
    password: { type: "string", short: "p", describe: "Password (prefer --password-stdin)" },
    "password-stdin": { type: "boolean", describe: "Read the password from standard input" },
  },
  run: async (args) => {
    if (!args.username) throw new UsageError("login needs --username");
    let password = args.password;
    if (args["password-stdin"]) {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      password = Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
    }
    if (!password) throw new UsageError("login needs --password or --password-stdin");
    const credentials = { username: args.username, password };
    await withClient(args, (client) => client.checkLogin(args.registry, credentials));
    const { login } = await import("@tsbuild/registry");
    await login(args.registry, credentials);
    process.stdout.write("Login Succeeded\n");
  },
});

export const logoutCommand = defineCommand({
  name: "logout",
  describe: "Remove a registry's credentials from Docker's config.json",
  positionals: [{ name: "registry", required: true, describe: "Registry host[:port]" }],
  run: async (args) => {
    const { logout } = await import("@tsbuild/registry");
    const removed = await logout(args.registry);
    process.stdout.write(removed ? `Removed login credentials for ${args.registry}\n` : `Not logged in to ${args.registry}\n`);
  },
});
