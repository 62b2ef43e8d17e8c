/**
 * One-dimensional arrays in PostgreSQL's binary format, for statement parameters: the driver
 * sends a Buffer as binary, and the server then copies each element instead of reading an
 * array literal (or a JSON document) character by character, which cost more than the rows'
 * writes for batches of outcomes with their request headers. The parameter must be cast to
 * the matching type in the statement (`$1::text[]`, `$2::int8[]`, `$3::int4[]`, `$4::bool[]`).
 *
 * The format: number of dimensions, whether any element is NULL, the element type's OID, then
 * for the one dimension its length and lower bound (1); then each element as its byte length
 * (-1 for NULL) and its bytes. Integers are big-endian.
 */

const TEXT_OID = 25;
const INT8_OID = 20;
const INT4_OID = 23;
const BOOL_OID = 16;
const HEADER_BYTES = 20;
const NULL_LENGTH = -1;

function header(target: Buffer, elementOid: number, count: number, hasNull: boolean): void {
  target.writeInt32BE(1, 0);
  target.writeInt32BE(hasNull ? 1 : 0, 4);
  target.writeInt32BE(elementOid, 8);
  target.writeInt32BE(count, 12);
  target.writeInt32BE(1, 16);
}

/**
 * A `text[]`. Text is sent as UTF-8, a lone surrogate as U+FFFD (what Buffer makes of it);
 * PostgreSQL refuses a NUL character in text, as it would in a literal.
 */
export function textArray(values: readonly (string | null)[]): Buffer {
  let size = HEADER_BYTES + 4 * values.length;
  let hasNull = false;
  for (const value of values) {
    if (value === null) hasNull = true;
    else size += Buffer.byteLength(value, 'utf8');
  }
  const target = Buffer.allocUnsafe(size);
  header(target, TEXT_OID, values.length, hasNull);
  let offset = HEADER_BYTES;
  for (const value of values) {
    if (value === null) {
      offset = target.writeInt32BE(NULL_LENGTH, offset);
      continue;
    }
    const length = target.write(value, offset + 4, 'utf8');
    target.writeInt32BE(length, offset);
    offset += 4 + length;
  }
  return target;
}

/** An `int8[]` (bigint) of safe integers, such as millisecond times. */
export function int8Array(values: readonly (number | null)[]): Buffer {
  return fixedWidthArray(values, INT8_OID, 8, (target, value, offset) => target.writeBigInt64BE(BigInt(value), offset));
}

/** An `int4[]` (integer). */
export function int4Array(values: readonly (number | null)[]): Buffer {
  return fixedWidthArray(values, INT4_OID, 4, (target, value, offset) => target.writeInt32BE(value, offset));
}

/** A `bool[]`. */
export function boolArray(values: readonly (boolean | null)[]): Buffer {
  const numbers = values.map((value) => (value === null ? null : value ? 1 : 0));
  return fixedWidthArray(numbers, BOOL_OID, 1, (target, value, offset) => target.writeUInt8(value, offset));
}

function fixedWidthArray(
  values: readonly (number | null)[],
  elementOid: number,
  width: number,
  write: (target: Buffer, value: number, offset: number) => void,
): Buffer {
  const nulls = values.reduce<number>((count, value) => (value === null ? count + 1 : count), 0);
  const target = Buffer.allocUnsafe(HEADER_BYTES + 4 * values.length + width * (values.length - nulls));
  header(target, elementOid, values.length, nulls > 0);
  let offset = HEADER_BYTES;
  for (const value of values) {
    if (value === null) {
      offset = target.writeInt32BE(NULL_LENGTH, offset);
      continue;
    }
    offset = target.writeInt32BE(width, offset);
    write(target, value, offset);
    offset += width;
  }
  return target;
}
