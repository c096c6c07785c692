package netcode

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// Read and Write reach the game's message through struct offsets found once, by reflection, when
// the plan is compiled: the generated Go struct's field with tag protobuf:"<type>,<number>,..." is
// the proto field of that number. Per tick they only load and store at those offsets.

// bindGo records, for each field, its offset and Go type in goType's struct.
func (p *Plan) bindGo(goType proto.Message) error {
	t := reflect.TypeOf(goType)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("netcode: Go type %v of %s is not a pointer to a struct", t, p.Message)
	}
	st := t.Elem()
	byNumber := make(map[int32]reflect.StructField)
	for i := range st.NumField() {
		sf := st.Field(i)
		parts := strings.Split(sf.Tag.Get("protobuf"), ",")
		if len(parts) < 2 {
			continue
		}
		if n, err := strconv.ParseInt(parts[1], 10, 32); err == nil {
			byNumber[int32(n)] = sf
		}
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		sf, ok := byNumber[f.Number]
		if !ok {
			return fmt.Errorf("netcode: %v has no struct field for %s.%s", t, p.Message, f.Name)
		}
		k, err := goKindOf(sf.Type, f.Kind)
		if err != nil {
			return fmt.Errorf("netcode: field %s.%s: %w", p.Message, f.Name, err)
		}
		f.offset, f.goKind = sf.Offset, k
	}
	p.goType = goType
	return nil
}

var quatType = reflect.TypeFor[*schema.Quat]()

func goKindOf(t reflect.Type, kind FieldKind) (goKind, error) {
	var k goKind
	switch {
	case t == quatType:
		k = goQuat
	case t.Kind() == reflect.Float32:
		k = goFloat32
	case t.Kind() == reflect.Float64:
		k = goFloat64
	case t.Kind() == reflect.Int32:
		k = goInt32
	case t.Kind() == reflect.Uint32:
		k = goUint32
	case t.Kind() == reflect.Bool:
		k = goBool
	default:
		return goNone, fmt.Errorf("unsupported Go type %v", t)
	}
	float := k == goFloat32 || k == goFloat64
	if (kind == FieldFixed || kind == FieldAngle) != float || (kind == FieldQuat) != (k == goQuat) {
		return goNone, fmt.Errorf("the Go type %v does not fit the field's kind", t)
	}
	return k, nil
}

// Pointer checks that msg is of the plan's Go type and returns the address of its struct, for
// Read. Call it once per message (at Spawn), not per tick.
func (p *Plan) Pointer(msg proto.Message) (unsafe.Pointer, error) {
	if p.goType == nil {
		return nil, fmt.Errorf("netcode: plan of %s has no Go type", p.Message)
	}
	v := reflect.ValueOf(msg)
	if v.Type() != reflect.TypeOf(p.goType) || v.IsNil() {
		return nil, fmt.Errorf("netcode: message %T is not a non-nil %T (%s)", msg, p.goType, p.Message)
	}
	return v.UnsafePointer(), nil
}

// Read quantizes the message at msg, a pointer obtained from Pointer, into dst[0:len(Fields)];
// the rest of dst is left as it is. It neither reflects nor allocates.
func (p *Plan) Read(msg unsafe.Pointer, dst *[MaxFields]int32) {
	for i := range p.Fields {
		f := &p.Fields[i]
		at := unsafe.Add(msg, f.offset)
		switch f.Kind {
		case FieldFixed:
			dst[i] = f.quantFixed(loadFloat(at, f.goKind))
		case FieldAngle:
			dst[i] = f.quantAngle(loadFloat(at, f.goKind))
		case FieldInt:
			dst[i] = f.quantInt(loadInt(at, f.goKind))
		case FieldQuat:
			dst[i] = packQuat(f.Bits, loadQuat(at))
		}
	}
}

// ReadMessage is Read with the type check of Pointer, for code that does not keep the pointer.
func (p *Plan) ReadMessage(msg proto.Message, dst *[MaxFields]int32) error {
	ptr, err := p.Pointer(msg)
	if err != nil {
		return err
	}
	p.Read(ptr, dst)
	return nil
}

func loadFloat(at unsafe.Pointer, k goKind) float64 {
	if k == goFloat32 {
		return float64(*(*float32)(at))
	}
	return *(*float64)(at)
}

func loadInt(at unsafe.Pointer, k goKind) int64 {
	switch k {
	case goInt32:
		return int64(*(*int32)(at))
	case goUint32:
		return int64(*(*uint32)(at))
	case goBool:
		if *(*bool)(at) {
			return 1
		}
	}
	return 0
}

func loadQuat(at unsafe.Pointer) [4]float64 {
	q := *(**schema.Quat)(at)
	if q == nil {
		return [4]float64{0, 0, 0, 1}
	}
	return [4]float64{float64(q.X), float64(q.Y), float64(q.Z), float64(q.W)}
}

// Write dequantizes src[0:len(Fields)] into msg, which must be of the plan's Go type: the inverse
// of Read up to quantization. A nil *Quat field gets a new Quat; an existing one is overwritten.
func (p *Plan) Write(src *[MaxFields]int32, msg proto.Message) error {
	ptr, err := p.Pointer(msg)
	if err != nil {
		return err
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		at := unsafe.Add(ptr, f.offset)
		switch f.goKind {
		case goFloat32:
			*(*float32)(at) = float32(p.Dequantize(i, src[i]))
		case goFloat64:
			*(*float64)(at) = p.Dequantize(i, src[i])
		case goInt32:
			*(*int32)(at) = int32(f.intValue(src[i]))
		case goUint32:
			*(*uint32)(at) = uint32(f.intValue(src[i]))
		case goBool:
			*(*bool)(at) = src[i] != 0
		case goQuat:
			qp := (**schema.Quat)(at)
			if *qp == nil {
				*qp = &schema.Quat{}
			}
			c := unpackQuat(f.Bits, src[i])
			(*qp).X, (*qp).Y, (*qp).Z, (*qp).W = float32(c[0]), float32(c[1]), float32(c[2]), float32(c[3])
		}
	}
	return nil
}
