import path from 'node:path';

/** clients/web */
export const webRoot = path.resolve(import.meta.dirname, '..', '..');
/** The repository root. */
export const repoRoot = path.resolve(webRoot, '..', '..');
export const serverProject = path.join(repoRoot, 'src', 'Parley.Server');
export const serverDll = path.join(serverProject, 'bin', 'Release', 'net10.0', 'Parley.Server.dll');
export const screenshotDir = path.join(repoRoot, 'docs', 'screenshots');
