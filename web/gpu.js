// What WebGPU this browser offers (shared by the pages).

/** The browser's WebGPU adapter, if any: {available, vendor, architecture, description, fallback, reason}. */
export async function gpuInfo() {
  if (!('gpu' in navigator)) return { available: false, reason: isSecureContext ? 'navigator.gpu is missing' : 'not a secure context (use 127.0.0.1, localhost or https)' };
  try {
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { available: false, reason: 'requestAdapter() returned null' };
    const i = a.info ?? {};
    return { available: true, vendor: i.vendor ?? '', architecture: i.architecture ?? '', description: i.description ?? '', fallback: Boolean(a.isFallbackAdapter ?? i.isFallbackAdapter) };
  } catch (e) {
    return { available: false, reason: String(e?.message ?? e) };
  }
}

