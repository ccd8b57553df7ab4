import { describe, expect, it } from "vitest";
import { parseCommandLine, UsageError, type CommandSpec } from "./command-line.js";
import { tsbuildProgram } from "./program.js";

/** The command argv runs and its arguments (fails the test on --help/--version output). */
function parse(...argv: string[]): { command: string; args: Record<string, unknown> } {
  const invocation = parseCommandLine(tsbuildProgram, argv);
  if (invocation.kind !== "run") throw new Error(`expected a command to run, got ${JSON.stringify(invocation.text)}`);
  return { command: invocation.command.name, args: invocation.args as Record<string, unknown> };
}

function printed(...argv: string[]): string {
  const invocation = parseCommandLine(tsbuildProgram, argv);
  if (invocation.kind !== "print") throw new Error(`expected help or version, got command ${invocation.command.name}`);
  return invocation.text;
}

function usageError(...argv: string[]): string {
  try {
    parseCommandLine(tsbuildProgram, argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`expected a usage error for ${argv.join(" ")}`);
}

describe("parseCommandLine", () => {
  it("runs build when no command is named, with the same arguments as build", () => {
    const implicit = parse("-f", "Dockerfile", "ctx");
    const explicit = parse("build", "-f", "Dockerfile", "ctx");
    expect(implicit).toEqual(explicit);
    expect(implicit.command).toBe("build");
    expect(implicit.args).toMatchObject({ file: "Dockerfile", context: "ctx", call: "build", progress: "auto", "no-cache": false, tag: [] });
    expect(parse().args).toMatchObject({ context: "." });
    // A name that is no command is the build context, as before.
    expect(parse("frobnicate").args).toMatchObject({ context: "frobnicate" });
  });

  it("takes global options before the command name, inline or with a separate value", () => {
    expect(parse("--root", "/r", "images", "-q")).toEqual({ command: "images", args: expect.objectContaining({ root: "/r", quiet: true }) });
    expect(parse("--root=/r", "df")).toMatchObject({ command: "df", args: { root: "/r", verbose: false } });
    expect(parse("--root", "/r", "-t", "x", ".")).toMatchObject({ command: "build", args: { root: "/r", tag: ["x"], context: "." } });
    expect(parse("images", "--root", "/r").args).toMatchObject({ root: "/r" });
  });

  it("maps one-letter aliases and mixes options and positionals in any order", () => {
    expect(parse("build", ".", "-t", "app", "-o", "type=oci,dest=x", "--progress", "plain").args).toMatchObject({
      context: ".",
      tag: ["app"],
      output: ["type=oci,dest=x"],
      progress: "plain",
    });
    expect(parse("rmi", "-f", "a", "b").args).toMatchObject({ force: true, image: ["a", "b"] });
    expect(parse("login", "-u", "me", "-p", "pw", "reg").args).toMatchObject({ username: "me", password: "pw", registry: "reg" });
  });

  it("keeps every occurrence of a repeatable option, in order, and only the last of another", () => {
    expect(parse("-t", "a", "--tag", "b", "--tag=c", "--build-arg", "X=1", "--build-arg", "Y=2", ".").args).toMatchObject({
      tag: ["a", "b", "c"],
      "build-arg": ["X=1", "Y=2"],
      label: [],
    });
    expect(parse("--target", "one", "--target", "two").args).toMatchObject({ target: "two" });
  });

  it("treats --no-cache as an option of its own, and takes =true/=false for booleans", () => {
    expect(parse("--no-cache", ".").args).toMatchObject({ "no-cache": true });
    expect(usageError("--cache", ".")).toBe("unknown option --cache");
    expect(parse("--push=false").args).toMatchObject({ push: false });
    expect(parse("--push=true").args).toMatchObject({ push: true });
    expect(usageError("--push=maybe")).toBe('--push takes no value (or =true, =false), got "maybe"');
  });

  it("reads - as a value and as a positional (a Dockerfile from stdin)", () => {
    expect(parse("-f", "-", ".").args).toMatchObject({ file: "-", context: "." });
    expect(parse("build", "-").args).toMatchObject({ context: "-" });
  });

  it("validates choices, also of each value of a repeatable option", () => {
    expect(parse("--call", "outline").args).toMatchObject({ call: "outline" });
    expect(usageError("build", "--call", "dance", ".")).toBe('invalid value for --call: "dance" (choose from build, outline, targets, check)');
    expect(parse("run", "--allow", "host-paths", "c", "--", "true").args).toMatchObject({ allow: ["host-paths"] });
    expect(usageError("run", "--allow", "host-paths", "--allow", "nope", "c")).toMatch(/invalid value for --allow: "nope"/);
  });

  it("makes unknown options, missing values, and missing or extra positionals usage errors", () => {
    expect(usageError("build", "--frobnicate", ".")).toBe("unknown option --frobnicate");
    expect(usageError("images", "-qx")).toBe("unknown option -x");
    expect(usageError("ps", "--bogus=1")).toBe("unknown option --bogus");
    expect(usageError("--constructor", "x")).toBe("unknown option --constructor");
    expect(usageError("--__proto__=x")).toBe("unknown option --__proto__");
    expect(usageError("prune", "-f", "--keep-storage")).toBe("--keep-storage needs a value");
    expect(usageError("-t", "--push")).toBe('-t needs a value (for one that starts with "-", write --tag=--push)');
    expect(usageError("from")).toBe("from needs <image>: tsbuild from [options] <image>");
    expect(usageError("commit", "c")).toBe("commit needs <image>: tsbuild commit [options] <container> <image>");
    expect(usageError("rmi")).toBe("rmi needs <image...>: tsbuild rmi [options] <image...>");
    expect(usageError("df", "extra")).toBe("unexpected argument: extra");
    expect(usageError("build", "a", "b")).toBe("unexpected argument: b");
  });

  it("gives everything after -- to the command's positionals, options too", () => {
    expect(parse("run", "-e", "A=1", "box", "--", "sh", "-c", "echo --help").args).toMatchObject({
      container: "box",
      env: ["A=1"],
      command: ["sh", "-c", "echo --help"],
    });
    expect(parse("run", "box", "ls", "--", "-l").args).toMatchObject({ command: ["ls", "-l"] });
    expect(parse("run", "box").args).toMatchObject({ command: [] });
  });

  it("runs nested subcommands, and a group without one is a usage error naming them", () => {
    expect(parse("volume", "ls", "-q")).toMatchObject({ command: "ls", args: { quiet: true } });
    expect(parse("--root", "/r", "volume", "--root", "/s", "create", "data")).toMatchObject({ command: "create", args: { root: "/s", name: "data" } });
    expect(parse("volume", "rm", "a", "b").args).toMatchObject({ names: ["a", "b"] });
    expect(parse("volume", "prune", "-a").args).toMatchObject({ all: true });
    expect(usageError("volume")).toBe("volume needs a subcommand: create, ls, inspect, rm or prune");
    expect(usageError("volume", "frob")).toBe("unknown command: volume frob (volume's commands: create, ls, inspect, rm, prune)");
    expect(usageError("volume", "ls", "--bogus")).toBe("unknown option --bogus");
  });

  it("prints the version, from any command", () => {
    expect(printed("--version")).toBe("0.1.0\n");
    expect(printed("images", "--version")).toBe("0.1.0\n");
  });

  it("prints help with -h/--help, before any usage error", () => {
    expect(printed("-h")).toBe(printed("--help"));
    expect(printed("images", "--bogus", "--help")).toMatch(/^Usage: tsbuild images \[options\] \[reference\]\n/);
    expect(printed("from", "--help")).toContain("Usage: tsbuild from [options] <image>");
    expect(printed("volume", "create", "-h")).toContain("Usage: tsbuild volume create [options] [name]");
    // Options before the command name do not make the help the default command's.
    expect(printed("--root", "/r", "--help")).toBe(printed("--help"));
  });

  it("shows both ways to call the default command, and its arguments and options on the top level", () => {
    const top = printed("--help");
    expect(top).toMatch(/^Usage: tsbuild <command> \[options\]\n {7}tsbuild \[options\] \[context\]\n/);
    expect(top).toMatch(/^ {2}tsbuild build \[context\] +Build an image from a Dockerfile \[default\]$/m);
    expect(top).toMatch(/^ {2}context +Build context directory \[default: \.\]$/m);
    expect(top).toMatch(/^ {6}--progress <auto\|tty\|plain\|json>\n +Progress output \[default: auto\]$/m);
    expect(printed("build", "--help")).toMatch(/^Usage: tsbuild build \[options\] \[context\]\n {7}tsbuild \[options\] \[context\]\n/);
  });

  it("wraps descriptions to the width, and shows epilogs", () => {
    const help = printed("df", "--help");
    expect(help).toContain("RECLAIMABLE is what `tsbuild prune` would free.");
    const narrow = parseCommandLine(tsbuildProgram, ["push", "--help"], 80);
    expect(narrow.kind === "print" && narrow.text.split("\n").every((line) => line.length <= 80)).toBe(true);
  });

  it("lists every command, argument and option (with its alias) in the help of each command", () => {
    const visit = (path: string[], command: CommandSpec, inherited: CommandSpec["options"]) => {
      const help = printed(...path, "--help");
      const options = { ...inherited, ...command.options, ...command.subcommands?.find((c) => c.isDefault)?.options };
      for (const [name, option] of Object.entries(options)) {
        const flags = `${option.short ? `-${option.short}, ` : " {4}"}--${name}( <[^>]+>)?`;
        expect(help, `${path.join(" ")} --${name}`).toMatch(new RegExp(`${flags}( +|\\n +)${escape(option.describe.split(" ")[0]!)}`));
      }
      for (const p of command.positionals ?? []) expect(help).toMatch(new RegExp(`^ {2}${p.name} `, "m"));
      expect(help).toMatch(/-h, --help +Show this help/);
      expect(help).toMatch(/--version +Show the version number/);
      for (const sub of command.subcommands ?? []) {
        expect(help).toContain(`tsbuild ${[...path, sub.name].join(" ")}`);
        visit([...path, sub.name], sub, { ...inherited, ...command.options });
      }
    };
    visit([], tsbuildProgram, {});
  });
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
