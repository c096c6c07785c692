package netcode

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tickrelay/tickrelay/schema"
)

// MaxFields is the most replicated fields an entity or input message may have.
const MaxFields = 14

// FieldKind is how a field is quantized.
type FieldKind uint8

// Field kinds, as declared by the options of tickrelay/options.proto.
const (
	FieldFixed FieldKind = iota + 1 // fixed point: q in [0, QMax], v = Min + q*Step
	FieldAngle                      // radians, Bits per full turn: q in [0, 2^Bits)
	FieldInt                        // an integer in [Min, Max]
	FieldQuat                       // a unit quaternion, smallest three: any 32-bit word
)

// Axis names a position field, for interest management.
type Axis uint8

// Axes, as tickrelay.v1.Axis.
const (
	AxisNone Axis = iota
	AxisX
	AxisY
	AxisZ
)

// Plane is the pair of axes interest management works in.
type Plane uint8

// Planes, as tickrelay.v1.Plane.
const (
	PlaneXY Plane = iota
	PlaneXZ
)

// Field is one replicated field of a plan.
type Field struct {
	Name   string // proto field name
	Number int32  // proto field number
	Kind   FieldKind
	// Fixed: the declared min, max and step; a value is Min + q*Step. Int: the range, exact
	// integers; a uint32 field with Max > MaxInt32 holds its value as the bits of the int32.
	Min, Max, Step float64
	Bits           uint8 // Angle: bits per full turn (1..16); Quat: bits per component (2..10)
	// QMax is the largest quantized value of a Fixed (range [0, QMax]) or Angle (2^Bits-1) field;
	// Int fields use Min and Max as they are; Quat fields take any 32-bit word.
	QMax      int32
	OwnerOnly bool // only the entity's owner receives it; 0 for everyone else
	Rare      bool // in the rare mask group
	Axis      Axis

	// Where Read and Write find the field in the Go struct; goNone when the plan has no Go type.
	offset uintptr
	goKind goKind
}

// goKind is the Go type of a struct field a plan reads.
type goKind uint8

const (
	goNone goKind = iota
	goFloat32
	goFloat64
	goInt32 // int32, sint32, sfixed32 and enums
	goUint32
	goBool
	goQuat // *schema.Quat
)

// Plan is a compiled entity or input message: the fields it replicates, how each is quantized,
// and where to find each in the game's Go struct. Compile it once (CompileEntity, CompileInput);
// it is immutable afterwards and safe for concurrent use.
type Plan struct {
	Message protoreflect.FullName
	// Fields are the replicated fields in ascending field number; a field's index is its slot in
	// EntityState.Fields and in an input's values.
	Fields []Field
	// Frequent and RareFields are the indices of the fields of the two mask groups, each in
	// field order.
	Frequent, RareFields []int
	// X, Y, Z are the indices of the axis fields; -1 if absent. Plane says which two are the plane.
	X, Y, Z int
	Plane   Plane
	ID      uint32 // fingerprint: FNV-1a 32 over Canonical()

	goType    proto.Message // zero value of the Go message type; nil for a plan built by hand
	owner     uint16        // bit i: field i is owner-only
	canonical string
}

// CompileEntity compiles an entity message: Compile, and it must have the two axis fields of its
// plane (a third, vertical one is optional).
func CompileEntity(msg proto.Message) (*Plan, error) {
	p, err := Compile(msg.ProtoReflect().Descriptor(), msg)
	if err != nil {
		return nil, err
	}
	if err := p.checkAxes(); err != nil {
		return nil, err
	}
	return p, nil
}

// CompileInput compiles an input message: Compile, and it must have at least one field and no
// axes, owner-only or rare fields, which mean nothing for an input.
func CompileInput(msg proto.Message) (*Plan, error) {
	p, err := Compile(msg.ProtoReflect().Descriptor(), msg)
	if err != nil {
		return nil, err
	}
	if len(p.Fields) == 0 {
		return nil, fmt.Errorf("netcode: input message %s replicates no field", p.Message)
	}
	for _, f := range p.Fields {
		if f.Axis != AxisNone || f.OwnerOnly || f.Rare {
			return nil, fmt.Errorf("netcode: input field %s.%s: axis, owner_only and rare are for entities", p.Message, f.Name)
		}
	}
	return p, nil
}

// Compile compiles the message m, whose generated Go type is that of goType (nil: a plan without
// Read and Write), into a plan. Every field must carry a tickrelay.v1.replicate option (or skip);
// the error names the first field that does not, or whose type or option the codec cannot use.
func Compile(m protoreflect.MessageDescriptor, goType proto.Message) (*Plan, error) {
	p := &Plan{Message: m.FullName()}
	if eo, ok := proto.GetExtension(m.Options(), schema.E_Entity).(*schema.EntityOptions); ok && eo != nil {
		switch eo.GetPlane() {
		case schema.Plane_PLANE_XY:
			p.Plane = PlaneXY
		case schema.Plane_PLANE_XZ:
			p.Plane = PlaneXZ
		default:
			return nil, fmt.Errorf("netcode: message %s: unknown plane %v", m.FullName(), eo.GetPlane())
		}
	}
	fds := m.Fields()
	for i := range fds.Len() { // Fields() is in declaration order; sort below
		fd := fds.Get(i)
		f, skip, err := compileField(fd)
		if err != nil {
			return nil, fmt.Errorf("netcode: field %s: %w", fd.FullName(), err)
		}
		if !skip {
			p.Fields = append(p.Fields, f)
		}
	}
	sortFields(p.Fields)
	if len(p.Fields) > MaxFields {
		return nil, fmt.Errorf("netcode: message %s replicates %d fields, at most %d", m.FullName(), len(p.Fields), MaxFields)
	}
	if goType != nil {
		if goType.ProtoReflect().Descriptor().FullName() != m.FullName() {
			return nil, fmt.Errorf("netcode: Go type of %s is for %s", m.FullName(), goType.ProtoReflect().Descriptor().FullName())
		}
		if err := p.bindGo(goType); err != nil {
			return nil, err
		}
	}
	if err := p.init(); err != nil {
		return nil, err
	}
	return p, nil
}

func sortFields(fs []Field) {
	for i := 1; i < len(fs); i++ { // few fields: insertion sort
		for j := i; j > 0 && fs[j].Number < fs[j-1].Number; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// compileField turns one field's option into a Field; skip reports a field marked skip.
func compileField(fd protoreflect.FieldDescriptor) (f Field, skip bool, err error) {
	r, _ := proto.GetExtension(fd.Options(), schema.E_Replicate).(*schema.Replicate)
	if r == nil {
		return f, false, fmt.Errorf("no (tickrelay.v1.replicate) option; add one, or {skip: true}")
	}
	if r.GetSkip() {
		return f, true, nil
	}
	switch {
	case fd.IsList() || fd.IsMap():
		return f, false, fmt.Errorf("repeated fields and maps are not supported")
	case fd.ContainingOneof() != nil:
		return f, false, fmt.Errorf("oneof and optional fields are not supported")
	}
	f = Field{Name: string(fd.Name()), Number: int32(fd.Number()), OwnerOnly: r.GetOwnerOnly(), Rare: r.GetRare()}
	switch a := r.GetAxis(); a {
	case schema.Axis_AXIS_NONE, schema.Axis_AXIS_X, schema.Axis_AXIS_Y, schema.Axis_AXIS_Z:
		f.Axis = Axis(a)
	default:
		return f, false, fmt.Errorf("unknown axis %v", a)
	}
	switch {
	case r.GetFixed() != nil:
		err = compileFixed(&f, fd, r.GetFixed())
	case r.GetAngle() != nil:
		err = compileAngle(&f, fd, r.GetAngle())
	case r.GetInt() != nil:
		err = compileInt(&f, fd, r.GetInt())
	case r.GetQuaternion() != nil:
		err = compileQuat(&f, fd, r.GetQuaternion())
	default:
		err = fmt.Errorf("the replicate option names no kind (fixed, angle, int, quaternion) and is not skip")
	}
	if err == nil && f.Axis != AxisNone && f.Kind != FieldFixed {
		err = fmt.Errorf("only fixed fields can be an axis")
	}
	return f, false, err
}

func isFloat(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.FloatKind || fd.Kind() == protoreflect.DoubleKind
}

func compileFixed(f *Field, fd protoreflect.FieldDescriptor, o *schema.Fixed) error {
	if !isFloat(fd) {
		return fmt.Errorf("fixed needs a float or double field, not %v", fd.Kind())
	}
	f.Kind, f.Min, f.Max, f.Step = FieldFixed, o.GetMin(), o.GetMax(), o.GetStep()
	return f.fixedRange()
}

// fixedRange checks Min, Max and Step and sets QMax.
func (f *Field) fixedRange() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(f.Min) || !finite(f.Max) || !(f.Max > f.Min) || !finite(f.Step) || !(f.Step > 0) {
		return fmt.Errorf("fixed range needs finite min < max and step > 0 (min %v, max %v, step %v)", f.Min, f.Max, f.Step)
	}
	n := math.Round((f.Max - f.Min) / f.Step)
	if !(n >= 1 && n <= math.MaxInt32) {
		return fmt.Errorf("fixed range has %v steps, want 1..%d", n, math.MaxInt32)
	}
	f.QMax = int32(n)
	return nil
}

func compileAngle(f *Field, fd protoreflect.FieldDescriptor, o *schema.Angle) error {
	if !isFloat(fd) {
		return fmt.Errorf("angle needs a float or double field, not %v", fd.Kind())
	}
	if o.GetBits() < 1 || o.GetBits() > 16 {
		return fmt.Errorf("angle bits %d out of range 1..16", o.GetBits())
	}
	f.Kind, f.Bits = FieldAngle, uint8(o.GetBits())
	f.QMax = 1<<f.Bits - 1
	return nil
}

func compileInt(f *Field, fd protoreflect.FieldDescriptor, o *schema.Int) error {
	var lo, hi int64
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		lo, hi = math.MinInt32, math.MaxInt32
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		lo, hi = 0, math.MaxUint32
	case protoreflect.BoolKind:
		lo, hi = 0, 1
	default:
		return fmt.Errorf("int needs an int32, sint32, sfixed32, uint32, fixed32, enum or bool field, not %v", fd.Kind())
	}
	f.Kind, f.Min, f.Max = FieldInt, float64(lo), float64(hi)
	if fd.Kind() == protoreflect.BoolKind || o.GetMin() == 0 && o.GetMax() == 0 {
		return nil // the type's range
	}
	if o.GetMin() > o.GetMax() || o.GetMin() < lo || o.GetMax() > hi {
		return fmt.Errorf("int range [%d, %d] is empty or outside the field type's [%d, %d]", o.GetMin(), o.GetMax(), lo, hi)
	}
	f.Min, f.Max = float64(o.GetMin()), float64(o.GetMax())
	return nil
}

func compileQuat(f *Field, fd protoreflect.FieldDescriptor, o *schema.Quaternion) error {
	want := (*schema.Quat)(nil).ProtoReflect().Descriptor().FullName()
	if fd.Kind() != protoreflect.MessageKind || fd.Message().FullName() != want {
		return fmt.Errorf("quaternion needs a field of type %s", want)
	}
	if o.GetBits() < 2 || o.GetBits() > 10 {
		return fmt.Errorf("quaternion bits %d out of range 2..10", o.GetBits())
	}
	f.Kind, f.Bits = FieldQuat, uint8(o.GetBits())
	return nil
}

// init checks a plan whose Message, Fields and Plane are set and derives the rest: the mask
// groups, the axes, the owner-only set and the fingerprint. Tests build plans by hand with it.
func (p *Plan) init() error {
	if len(p.Fields) > MaxFields {
		return fmt.Errorf("netcode: message %s has %d fields, at most %d", p.Message, len(p.Fields), MaxFields)
	}
	p.Frequent, p.RareFields, p.owner = nil, nil, 0
	p.X, p.Y, p.Z = -1, -1, -1
	for i, f := range p.Fields {
		if i > 0 && f.Number <= p.Fields[i-1].Number {
			return fmt.Errorf("netcode: message %s: fields not in ascending number order", p.Message)
		}
		if err := p.Fields[i].check(); err != nil {
			return fmt.Errorf("netcode: field %s.%s: %w", p.Message, f.Name, err)
		}
		if f.Rare {
			p.RareFields = append(p.RareFields, i)
		} else {
			p.Frequent = append(p.Frequent, i)
		}
		if f.OwnerOnly {
			// Others receive an owner-only field as 0, so 0 must be a value of the field: a Fixed
			// or Angle q of 0 and any Quat word are; an Int range must hold 0.
			if f.Kind == FieldInt && (f.Min > 0 || f.Max < 0) {
				return fmt.Errorf("netcode: owner-only field %s.%s: its range [%v, %v] must hold 0, the value others see", p.Message, f.Name, f.Min, f.Max)
			}
			p.owner |= 1 << i
		}
		axis := [...]*int{AxisX: &p.X, AxisY: &p.Y, AxisZ: &p.Z}
		if f.Axis != AxisNone {
			if int(f.Axis) >= len(axis) {
				return fmt.Errorf("netcode: field %s.%s: unknown axis %d", p.Message, f.Name, f.Axis)
			}
			if *axis[f.Axis] >= 0 {
				return fmt.Errorf("netcode: message %s has two %s axis fields", p.Message, axisName(f.Axis))
			}
			*axis[f.Axis] = i
		}
	}
	p.canonical = p.canonicalForm()
	p.ID = fnv1a(p.canonical)
	return nil
}

// check checks a field's parameters, as compileField sets them, and derives an angle's QMax.
func (f *Field) check() error {
	switch f.Kind {
	case FieldFixed:
		want := *f
		if err := want.fixedRange(); err != nil {
			return err
		}
		if f.QMax != want.QMax {
			return fmt.Errorf("fixed QMax %d, want %d", f.QMax, want.QMax)
		}
	case FieldAngle:
		if f.Bits < 1 || f.Bits > 16 {
			return fmt.Errorf("angle bits %d out of range 1..16", f.Bits)
		}
		f.QMax = 1<<f.Bits - 1
	case FieldInt:
		if !(f.Min <= f.Max) || f.Min < math.MinInt32 || f.Max > math.MaxUint32 || f.Min < 0 && f.Max > math.MaxInt32 ||
			f.Min != math.Trunc(f.Min) || f.Max != math.Trunc(f.Max) {
			return fmt.Errorf("int range [%v, %v] does not fit 32 bits", f.Min, f.Max)
		}
	case FieldQuat:
		if f.Bits < 2 || f.Bits > 10 {
			return fmt.Errorf("quaternion bits %d out of range 2..10", f.Bits)
		}
	default:
		return fmt.Errorf("unknown kind %d", f.Kind)
	}
	if f.Axis != AxisNone && f.Kind != FieldFixed {
		return fmt.Errorf("only fixed fields can be an axis")
	}
	return nil
}

// checkAxes checks that an entity plan has the two axis fields of its plane.
func (p *Plan) checkAxes() error {
	second, name := p.Y, "y"
	if p.Plane == PlaneXZ {
		second, name = p.Z, "z"
	}
	if p.X < 0 || second < 0 {
		return fmt.Errorf("netcode: entity message %s needs an x and a %s axis field (plane %s)", p.Message, name, p.planeName())
	}
	return nil
}

// PlaneAxes returns the indices of the plan's two plane axes and of its vertical axis (-1 if absent).
func (p *Plan) PlaneAxes() (a, b, vertical int) {
	if p.Plane == PlaneXZ {
		return p.X, p.Z, p.Y
	}
	return p.X, p.Y, p.Z
}

func axisName(a Axis) string { return string("-xyz"[a]) }

func (p *Plan) planeName() string {
	if p.Plane == PlaneXZ {
		return "xz"
	}
	return "xy"
}

// Canonical returns the plan's canonical form, the string its ID fingerprints:
// <message full name>, then for each field ";<number>:<name>:<kind>:<params>:<flags>" with kind f
// (params min,max,step as 16 lowercase hex digits of each float64's bits), a (bits), i (min,max in
// decimal) or q (bits), and flags o (owner-only), r (rare), x|y|z (axis) in that order; then
// ";plane=xy" or ";plane=xz".
func (p *Plan) Canonical() string { return p.canonical }

func (p *Plan) canonicalForm() string {
	var b strings.Builder
	b.WriteString(string(p.Message))
	hex := func(v float64) string {
		s := strconv.FormatUint(math.Float64bits(v), 16)
		return strings.Repeat("0", 16-len(s)) + s
	}
	for _, f := range p.Fields {
		fmt.Fprintf(&b, ";%d:%s:", f.Number, f.Name)
		switch f.Kind {
		case FieldFixed:
			b.WriteString("f:" + hex(f.Min) + "," + hex(f.Max) + "," + hex(f.Step))
		case FieldAngle:
			fmt.Fprintf(&b, "a:%d", f.Bits)
		case FieldInt:
			fmt.Fprintf(&b, "i:%d,%d", int64(f.Min), int64(f.Max))
		case FieldQuat:
			fmt.Fprintf(&b, "q:%d", f.Bits)
		}
		b.WriteByte(':')
		if f.OwnerOnly {
			b.WriteByte('o')
		}
		if f.Rare {
			b.WriteByte('r')
		}
		if f.Axis != AxisNone {
			b.WriteString(axisName(f.Axis))
		}
	}
	b.WriteString(";plane=" + p.planeName())
	return b.String()
}

// fnv1a is the 32-bit FNV-1a hash of s.
func fnv1a(s string) uint32 {
	h := uint32(0x811c9dc5)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 0x01000193
	}
	return h
}

// InRange reports whether q is a valid quantized value of the field.
func (f *Field) InRange(q int32) bool {
	switch f.Kind {
	case FieldFixed, FieldAngle:
		return q >= 0 && q <= f.QMax
	case FieldInt:
		v := int64(q)
		if f.Max > math.MaxInt32 { // a uint32 range: the int32 holds the bits
			v = int64(uint32(q))
		}
		return float64(v) >= f.Min && float64(v) <= f.Max
	}
	return true // FieldQuat: any word
}

// Dequantize returns field i's value in real units: Fixed Min + q*Step, Angle radians in [0, 2π),
// Int the integer, Quat the packed word as an unsigned number.
func (p *Plan) Dequantize(i int, q int32) float64 {
	f := &p.Fields[i]
	switch f.Kind {
	case FieldFixed:
		return f.Min + float64(q)*f.Step
	case FieldAngle:
		return float64(uint32(q)&(1<<f.Bits-1)) / float64(uint32(1)<<f.Bits) * 2 * math.Pi
	case FieldInt:
		if f.Max > math.MaxInt32 {
			return float64(uint32(q))
		}
		return float64(q)
	}
	return float64(uint32(q))
}

// Position returns the dequantized axis fields of s; 0 for an absent axis.
func (p *Plan) Position(s *EntityState) (x, y, z float32) {
	if p.X >= 0 {
		x = float32(p.Dequantize(p.X, s.Fields[p.X]))
	}
	if p.Y >= 0 {
		y = float32(p.Dequantize(p.Y, s.Fields[p.Y]))
	}
	if p.Z >= 0 {
		z = float32(p.Dequantize(p.Z, s.Fields[p.Z]))
	}
	return x, y, z
}

// Check reports whether every value of s is within its field's range and the unused tail is 0.
func (p *Plan) Check(s *EntityState) error {
	for i := range p.Fields {
		if !p.Fields[i].InRange(s.Fields[i]) {
			return fmt.Errorf("netcode: entity %d: field %s value %d out of range", s.ID, p.Fields[i].Name, s.Fields[i])
		}
	}
	for i := len(p.Fields); i < MaxFields; i++ {
		if s.Fields[i] != 0 {
			return fmt.Errorf("netcode: entity %d: unused slot %d holds %d", s.ID, i, s.Fields[i])
		}
	}
	return nil
}

// quantFixed quantizes v: round half away from zero, clamped to [0, QMax]; NaN is 0.
func (f *Field) quantFixed(v float64) int32 {
	q := math.Round((v - f.Min) / f.Step)
	switch {
	case !(q > 0): // also NaN
		return 0
	case q >= float64(f.QMax):
		return f.QMax
	}
	return int32(q)
}

// quantAngle quantizes radians, any value, to [0, 2^Bits); NaN and infinities are 0.
func (f *Field) quantAngle(rad float64) int32 {
	steps := float64(uint32(1) << f.Bits)
	turns := rad / (2 * math.Pi)
	turns -= math.Floor(turns) // [0, 1]; keeps Round within range for huge angles
	q := math.Round(turns * steps)
	if !(q >= 0 && q < steps) { // q == steps after rounding up, or NaN
		return 0
	}
	return int32(q)
}

// quantInt clamps v to [Min, Max] and stores it as an int32 (the bits of a uint32 range).
func (f *Field) quantInt(v int64) int32 {
	v = min(max(v, int64(f.Min)), int64(f.Max))
	return int32(uint32(v)) // a uint32 range keeps its bits
}

// intValue returns the integer a field value stands for.
func (f *Field) intValue(q int32) int64 {
	if f.Max > math.MaxInt32 {
		return int64(uint32(q))
	}
	return int64(q)
}

// Quaternions are packed "smallest three": the index (0..3 for x, y, z, w) of the component of
// largest magnitude in the top 2 of 2+3*Bits bits, then the other three components in x, y, z, w
// order, the first in the highest Bits bits, each mapped from [-1/√2, 1/√2] to [0, 2^Bits-1]:
// q = round((c + 1/√2) / √2 * (2^Bits-1)), clamped. The sign is chosen so that the largest
// component is positive (q and -q are the same rotation); ties go to the lower index.

const invSqrt2 = 1 / math.Sqrt2

// packQuat packs (x, y, z, w), which need not be normalised; a zero or NaN quaternion packs as
// the identity.
func packQuat(bitsPer uint8, c [4]float64) int32 {
	n := math.Sqrt(c[0]*c[0] + c[1]*c[1] + c[2]*c[2] + c[3]*c[3])
	if !(n > 0) || math.IsInf(n, 0) {
		c, n = [4]float64{0, 0, 0, 1}, 1
	}
	big := 0
	for i := 1; i < 4; i++ {
		if math.Abs(c[i]) > math.Abs(c[big]) {
			big = i
		}
	}
	sign := 1 / n
	if c[big] < 0 {
		sign = -sign
	}
	top := float64(uint32(1)<<bitsPer - 1)
	w := uint32(big)
	for i := range 4 {
		if i == big {
			continue
		}
		q := math.Round((c[i]*sign + invSqrt2) / math.Sqrt2 * top)
		q = min(max(q, 0), top)
		w = w<<bitsPer | uint32(q)
	}
	return int32(w)
}

// unpackQuat returns the unit quaternion (x, y, z, w) of a packed word; bits above 2+3*Bits are
// ignored.
func unpackQuat(bitsPer uint8, q int32) [4]float64 {
	w := uint32(q)
	mask := uint32(1)<<bitsPer - 1
	top := float64(mask)
	big := int(w >> (3 * uint(bitsPer)) & 3)
	var c [4]float64
	sum := 0.0
	shift := 2 * uint(bitsPer)
	for i := range 4 {
		if i == big {
			continue
		}
		v := float64(w>>shift&mask)/top*math.Sqrt2 - invSqrt2
		c[i] = v
		sum += v * v
		shift -= uint(bitsPer)
	}
	c[big] = math.Sqrt(max(0, 1-sum))
	return c
}
