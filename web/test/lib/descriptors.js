// Test-only: builds message descriptors with tickrelay.v1 options at run time, as protoc-gen-es
// would generate them from a game's .proto, so that plan tests can try any field set.
import { create, createFileRegistry, setExtension } from "@bufbuild/protobuf";
import {
  DescriptorProtoSchema, FieldDescriptorProto_Label, FieldDescriptorProto_Type, FieldDescriptorProtoSchema,
  FieldOptionsSchema, FileDescriptorProtoSchema, MessageOptionsSchema, OneofDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { ReplicateSchema, entity, file_tickrelay_options, replicate } from "../../src/gen/tickrelay/options_pb.js";

export const T = FieldDescriptorProto_Type;
let files = 0;

/**
 * A message descriptor: fields are {name, number, type (T.FLOAT...), rep (a Replicate init, or
 * undefined for none), repeated, optional, oneof, typeName}; plane sets the entity option.
 */
export function messageDesc(fields, { plane, name = "Msg" } = {}) {
  const pkg = `test.v${++files}`;
  const msg = create(DescriptorProtoSchema, { name });
  if (plane !== undefined) {
    msg.options = create(MessageOptionsSchema);
    setExtension(msg.options, entity, { plane });
  }
  for (const f of fields) {
    const fd = create(FieldDescriptorProtoSchema, {
      name: f.name, number: f.number, type: f.type,
      label: f.repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
      jsonName: f.name.replace(/_(\w)/g, (_, c) => c.toUpperCase()),
    });
    if (f.typeName) fd.typeName = f.typeName;
    if (f.rep) {
      fd.options = create(FieldOptionsSchema);
      setExtension(fd.options, replicate, create(ReplicateSchema, f.rep));
    }
    if (f.optional) {
      fd.proto3Optional = true;
      fd.oneofIndex = msg.oneofDecl.length;
      msg.oneofDecl.push(create(OneofDescriptorProtoSchema, { name: `_${f.name}` }));
    } else if (f.oneof) {
      let k = msg.oneofDecl.findIndex((o) => o.name === f.oneof);
      if (k < 0) k = msg.oneofDecl.push(create(OneofDescriptorProtoSchema, { name: f.oneof })) - 1;
      fd.oneofIndex = k;
    }
    msg.field.push(fd);
  }
  const file = create(FileDescriptorProtoSchema, {
    name: `${pkg}.proto`, package: pkg, syntax: "proto3",
    dependency: ["tickrelay/options.proto"], messageType: [msg],
  });
  const reg = createFileRegistry(file, (n) => (n === "tickrelay/options.proto" ? file_tickrelay_options : undefined));
  return reg.getMessage(`${pkg}.${name}`);
}

/** Shorthands for Replicate inits. */
export const fixed = (min, max, step, more = {}) => ({ kind: { case: "fixed", value: { min, max, step } }, ...more });
export const angle = (bits, more = {}) => ({ kind: { case: "angle", value: { bits } }, ...more });
export const int = (min, max, more = {}) => ({ kind: { case: "int", value: { min: BigInt(min), max: BigInt(max) } }, ...more });
export const quat = (bits, more = {}) => ({ kind: { case: "quaternion", value: { bits } }, ...more });
