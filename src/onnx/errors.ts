// The one error type of the ONNX importer: every refusal names what went wrong in `code`, and, where one node is to
// blame, the node and its op type.

export type OnnxImportErrorCode =
  | 'CORRUPT'          // not a well-formed ONNX protobuf (truncated, bad lengths, wrong wire types)
  | 'UNSUPPORTED'      // valid ONNX the importer does not take (external data, several inputs, sparse tensors…)
  | 'UNSUPPORTED_OP'   // a node (or a pattern of nodes) the .spx op set cannot express
  | 'DYNAMIC_SHAPE'    // a shape the importer cannot pin to one value
  | 'NOT_MULTI_EXIT'   // the outputs are not exit logits of one trunk
  | 'BAD_OPTION';      // an option of importOnnx is invalid

export class OnnxImportError extends Error {
  readonly code: OnnxImportErrorCode;
  /** The node's name (or its first output when it has none), where one node is to blame. */
  readonly node?: string;
  readonly opType?: string;

  constructor(code: OnnxImportErrorCode, message: string, where?: { node?: string; opType?: string }) {
    const at = where?.node !== undefined ? `node '${where.node}' (${where.opType ?? '?'}): ` : '';
    super(`${at}${message}`);
    this.name = 'OnnxImportError';
    this.code = code;
    this.node = where?.node;
    this.opType = where?.opType;
  }
}
