/** The request from the page's `Compressor` to the compression worker: Brotli quality and the bytes. */
export interface CompressionRequest {
  id: number;
  quality: number;
  data: Uint8Array;
}
