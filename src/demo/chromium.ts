// Headless Chromium for the browser tests and the demo screenshot (Node only; playwright-core is a dev dependency,
// loaded on call). Debian's /usr/bin/chromium is used as it is: nothing is downloaded.
//
// WebGPU: headless Chromium exposes navigator.gpu only to secure contexts (http://127.0.0.1, localhost, https) and
// only with --enable-unsafe-webgpu (Linux is not on WebGPU's default allowlist); it then picks SwiftShader's
// fallback adapter when there is no GPU. No other flag is needed (docs/WEBGPU.md lists what was tried).
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = process.env.SPLITEE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox', // containers and CI run as root, where Chromium's sandbox refuses to start
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--mute-audio',
];

export class ChromiumError extends Error {
  readonly code = 'NO_CHROMIUM';
  constructor(message: string) { super(message); this.name = 'ChromiumError'; }
}

export type Browser = import('playwright-core').Browser;

/** Launches headless Chromium; a clear ChromiumError when there is none. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new ChromiumError(`no Chromium at ${CHROMIUM_PATH}: install it (Debian: apt-get install chromium) or point SPLITEE_CHROMIUM at one`);
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], timeout: 30_000 });
}
