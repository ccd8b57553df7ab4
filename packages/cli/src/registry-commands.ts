// `tsbuild pull`, `push`, `login`, `logout`, and the registry options they share with `build`.
// The packages that do the work are loaded by the handlers (`await import`).
import type { Argv, CommandModule } from "yargs";
import type { RegistryClient, RegistryClientOptions } from "@tsbuild/registry";
import { asList } from "./args.js";
import { UsageError } from "./dockerfile-input.js";
import { platformOption } from "./platform.js";
import { storeRoot } from "./store-commands.js";

export interface RegistryArgs {
  "insecure-registry": string[];
  "registry-ca"?: string;
}

/** The options every command that talks to registries takes. */
export function withRegistryOptions<T>(y: Argv<T>): Argv<T & RegistryArgs> {
  return y
    .option("insecure-registry", {
      type: "string",
      default: [] as string[],
      coerce: asList,
      describe: "Allow plain HTTP (or an untrusted certificate) for this registry host[:port]; localhost and 127.0.0.0/8 always may",
    })
    .option("registry-ca", { type: "string", describe: "PEM file of an extra CA trusted for registries" }) as Argv<T & RegistryArgs>;
}

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

interface NameArgs extends RegistryArgs {
  name: string;
  root?: string;
  platform?: string;
}

export const pullCommand: CommandModule<object, NameArgs> = {
  command: "pull <name>",
  describe: "Pull an image from a registry into the local image store",
  builder: (y) =>
    withRegistryOptions(
      y.positional("name", { type: "string", demandOption: true, describe: "Image reference, e.g. registry:5000/app:1 or busybox" }).option("platform", { type: "string", describe: "os/arch[/variant] to pull from a multi-platform image" }),
    ) as never,
  handler: async (args) => {
    const platform = await platformOption(args.platform);
    const root = await storeRoot(args);
    const { pullImage } = await import("@tsbuild/core");
    const { openStore } = await import("@tsbuild/store");
    const store = await openStore(root);
    const pulled = await withClient(args, (client) => pullImage(store, client, args.name, platform));
    process.stdout.write(`${pulled.name}: ${pulled.manifestDigest}\nimage ID ${pulled.configDigest}\n`);
  },
};

export const pushCommand: CommandModule<object, NameArgs & { destination?: string }> = {
  command: "push <name> [destination]",
  describe: "Push an image from the local image store to a registry (gzip layers, blobs the registry has are skipped)",
  builder: (y) =>
    withRegistryOptions(
      y
        .positional("name", { type: "string", demandOption: true, describe: "Local image name" })
        .positional("destination", { type: "string", describe: "Where to push it (default: its own name)" }),
    ) as never,
  handler: async (args) => {
    const root = await storeRoot(args);
    const { pushToRegistry } = await import("@tsbuild/core");
    const { openStore } = await import("@tsbuild/store");
    const store = await openStore(root);
    const digest = await withClient(args, (client) => pushToRegistry(store, client, args.name, args.destination ?? args.name));
    process.stdout.write(`${args.destination ?? args.name}: pushed ${digest}\n`);
  },
};

interface LoginArgs extends RegistryArgs {
  registry: string;
  username?: string;
  password?: string;
  "password-stdin": boolean;
}

export const loginCommand: CommandModule<object, LoginArgs> = {
  command: "login <registry>",
  describe: "Check credentials against a registry and store them in Docker's config.json",
  builder: (y) =>
    withRegistryOptions(
      y
        .positional("registry", { type: "string", demandOption: true, describe: "Registry host[:port]" })
        .option("username", { alias: "u", type: "string", describe: "User name" })
        .option("password", { alias: "p", type: "string", describe: "Password (prefer --password-stdin)" })
        .option("password-stdin", { type: "boolean", default: false, describe: "Read the password from standard input" }),
    ) as never,
  handler: async (args) => {
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
};

export const logoutCommand: CommandModule<object, { registry: string }> = {
  command: "logout <registry>",
  describe: "Remove a registry's credentials from Docker's config.json",
  builder: (y) => y.positional("registry", { type: "string", demandOption: true }) as never,
  handler: async (args) => {
    const { logout } = await import("@tsbuild/registry");
    const removed = await logout(args.registry);
    process.stdout.write(removed ? `Removed login credentials for ${args.registry}\n` : `Not logged in to ${args.registry}\n`);
  },
};
