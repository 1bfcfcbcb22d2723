import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serverDll } from './paths';

/** A free TCP port on loopback (the OS picks it; the listener is closed before the port is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * One real Parley node on loopback with its own SQLite folder: started from the Release build, stopped (or killed, to
 * play a crash) and started again on the same port and data.
 */
export class ParleyServer {
  private child: ChildProcess | null = null;
  private log: WriteStream | null = null;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly extraArgs: readonly string[],
  ) {}

  /** Starts a node; `extraArgs` are more configuration switches (e.g. `--Parley:BacklogLimit=20`). */
  static async start(extraArgs: readonly string[] = []): Promise<ParleyServer> {
    const server = new ParleyServer(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-')), extraArgs);
    await server.start();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return path.join(this.dataDir, 'server.log');
  }

  /** The node's newest warnings and errors, then the last `lines` lines of its log (stdout and stderr). */
  logTail(lines = 30): string {
    if (!existsSync(this.logFile)) return '(no log)';
    const all = readFileSync(this.logFile, 'utf8').split('\n');
    const problems = all.filter((line) => /^(warn|fail|crit):/.test(line)).slice(-40);
    return ['-- warnings and errors', ...problems, `-- last ${lines} lines`, ...all.slice(-lines)].join('\n');
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('already running');
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(
      'dotnet',
      [serverDll, '--urls', this.url, `--Parley:SqlitePath=${path.join(this.dataDir, 'parley.db')}`, '--Parley:PasswordIterations=1000', '--Parley:RegistrationsPerAddress=0', '--Parley:NodeId=e2e-node', ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' } },
    );
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.child = child;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`Parley.Server exited with ${child.exitCode}; see ${this.logFile}`);
      try {
        const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await this.stop('SIGKILL');
    throw new Error(`Parley.Server did not answer /healthz within 30 s; see ${this.logFile}`);
  }

  /** Stops the node: SIGTERM drains it (close 1012); SIGKILL plays a crash. Waits at most 20 s. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    this.log?.end();
  }

  /** Stops the node and removes its data folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
