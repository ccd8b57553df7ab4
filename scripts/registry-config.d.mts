export function registryConfigLines(options: { host: string; storageDir: string; allowDelete?: boolean }): string[];
