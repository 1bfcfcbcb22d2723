import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { repoRoot, serverDll, serverProject } from './paths';

/**
 * Builds Parley.Server once (Release): the build also rebuilds the web UI when its sources changed and copies it into
 * the server's wwwroot, so the browser tests always run against the current UI. PARLEY_E2E_NO_BUILD=1 skips it.
 */
export default function setup(): void {
  if (process.env.PARLEY_E2E_NO_BUILD !== '1') {
    const started = Date.now();
    const result = spawnSync('dotnet', ['build', serverProject, '-c', 'Release', '-nologo', '-v', 'q'], {
      cwd: repoRoot,
      stdio: 'inherit',
      timeout: 600_000,
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1' },
    });
    if (result.status !== 0) throw new Error(`dotnet build of Parley.Server failed (${result.error?.message ?? `exit ${result.status}`})`);
    console.log(`e2e: Parley.Server built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  if (!existsSync(serverDll)) throw new Error(`missing ${serverDll}: build Parley.Server in Release first`);
}
