// Node-only: a WebGPU implementation for Node through the `webgpu` package (dawn.node). Kept out of the core, which
// runs in browsers and takes navigator.gpu instead.
//
// On a machine without a GPU, Dawn's Vulkan backend can run on SwiftShader, the CPU Vulkan driver Chromium ships.
// Two things must be found for that: the Vulkan loader (libvulkan.so.1) and the SwiftShader ICD manifest.
// Debian's chromium package carries both in /usr/lib/chromium but puts neither on the default search paths, so
// this module points VK_ICD_FILENAMES at the manifest and, when the loader is not installed system-wide, preloads
// Chromium's copy (see preloadVulkanLoader) before Dawn looks for it.
import { existsSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

const CHROMIUM_DIRS = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser'];
const SYSTEM_LOADERS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1',
];
/** Where the Vulkan loader finds installed drivers' manifests (a GPU driver or Mesa's lavapipe put theirs here). */
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
/** glibc's RTLD_NODELETE (not in os.constants.dlopen): keeps the library mapped after dlclose. */
const RTLD_NODELETE = 0x1000;

export interface NodeGpuOptions {
  /** Extra dawn.node flags, e.g. 'backend=vulkan', 'adapter=…', 'enable-dawn-features=…'. */
  flags?: string[];
  /**
   * 'auto' (default): use Chromium's SwiftShader only when no Vulkan driver is installed or configured (no
   * VK_ICD_FILENAMES / VK_DRIVER_FILES, no manifest in the standard icd.d directories), so a real GPU wins.
   * 'always': SwiftShader even where a GPU driver exists (correctness runs). 'never': leave Vulkan alone.
   */
  swiftShader?: 'auto' | 'always' | 'never';
}

export interface NodeGpu {
  gpu: GPU;
  /** What this module configured, for logs ("swiftshader: /usr/lib/chromium/…"). */
  notes: string[];
}

function installedIcds(): string[] {
  const found: string[] = [];
  for (const d of ICD_DIRS) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith('.json')) found.push(join(d, f));
    } catch {
      // directory absent
    }
  }
  return found;
}

function chromiumDir(): string | undefined {
  return CHROMIUM_DIRS.find((d) => existsSync(join(d, 'vk_swiftshader_icd.json')));
}

/**
 * Makes `dlopen("libvulkan.so.1")` inside Dawn succeed when the loader exists only in Chromium's directory.
 * LD_LIBRARY_PATH cannot help once the process runs (glibc reads it at startup), but a library already loaded under
 * that soname satisfies later dlopen calls. process.dlopen maps it (and then rejects it: it is no Node addon); with
 * RTLD_NODELETE the mapping survives that rejection.
 */
function preloadVulkanLoader(dir: string): boolean {
  const lib = join(dir, 'libvulkan.so.1');
  if (!existsSync(lib)) return false;
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
  } catch {
    // "Module did not self-register" is expected: the library is mapped and stays mapped.
  }
  return true;
}

/**
 * Every GPU object this module made. dawn.node tears its instance down when the GPU object is garbage-collected —
 * even while adapters and devices from it are in use, which then hang or crash the process (pending mapAsync never
 * settles) — and callers typically keep only the adapter or device. Holding them here does not keep Node from
 * exiting.
 */
const keepAlive = new Set<GPU>();

/** Sets up SwiftShader when no other Vulkan driver is configured, then creates a dawn.node GPU object. */
export async function createNodeGpu(opts: NodeGpuOptions = {}): Promise<NodeGpu> {
  const notes: string[] = [];
  const mode = opts.swiftShader ?? 'auto';
  if (process.platform === 'linux' && mode !== 'never') {
    const dir = chromiumDir();
    const configured = !!(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
    if (dir && (mode === 'always' || (!configured && installedIcds().length === 0))) {
      process.env.VK_ICD_FILENAMES = join(dir, 'vk_swiftshader_icd.json');
      delete process.env.VK_DRIVER_FILES;
      notes.push(`swiftshader: ${process.env.VK_ICD_FILENAMES}`);
    }
    if (dir) {
      // The Vulkan loader wants a runtime dir for its caches; CI containers often have none.
      process.env.XDG_RUNTIME_DIR ??= '/tmp';
      if (!SYSTEM_LOADERS.some((p) => existsSync(p)) && preloadVulkanLoader(dir)) notes.push(`vulkan loader: ${dir}/libvulkan.so.1`);
    }
  }
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create(opts.flags ?? []);
  keepAlive.add(gpu);
  return { gpu, notes };
}
