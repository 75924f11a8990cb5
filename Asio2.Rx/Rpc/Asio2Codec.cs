using System.Buffers;
using System.Buffers.Binary;
using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using MessagePack;

namespace Asio2.Rx;

/// <summary>
/// Reads cereal's "portable binary" values (what asio2's RPC carries): numbers in the byte order the message's flag
/// names, strings and containers as a u64 element count and the elements, user types as their members back to back.
/// Every count is checked against the bytes left before anything is allocated, and nesting is bounded.
/// </summary>
internal ref struct PortableReader(ReadOnlySpan<byte> span, bool bigEndian, int maxDepth)
{
    private readonly ReadOnlySpan<byte> _span = span;
    private int _position;
    private int _depth;

    public readonly int Remaining => _span.Length - _position;

    public ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > Remaining) throw new RpcArgumentException($"needs {count} more byte(s), {Remaining} left");
        var s = _span.Slice(_position, count);
        _position += count;
        return s;
    }

    public byte ReadByte() => Take(1)[0];
    public ushort ReadUInt16() => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(Take(2)) : BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint ReadUInt32() => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(Take(4)) : BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong ReadUInt64() => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(Take(8)) : BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    /// <summary>A u64 element count, refused when the elements (at least <paramref name="minElementSize"/> bytes each) cannot fit in what is left.</summary>
    public int ReadCount(int minElementSize)
    {
        ulong count = ReadUInt64();
        if (count > (ulong)(Remaining / Math.Max(1, minElementSize)))
            throw new RpcArgumentException($"a count of {count} does not fit in the {Remaining} byte(s) left");
        return (int)count;
    }

    public void Enter()
    {
        if (++_depth > maxDepth) throw new RpcArgumentException($"nesting deeper than {maxDepth}");
    }

    public void Leave() => _depth--;
}

/// <summary>Writes portable binary, always little-endian with flag 01, as asio2 on x86 does.</summary>
internal static class PortableWriter
{
    public static void WriteByte(this IBufferWriter<byte> w, byte v)
    {
        w.GetSpan(1)[0] = v;
        w.Advance(1);
    }

    public static void WriteUInt16(this IBufferWriter<byte> w, ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(w.GetSpan(2), v);
        w.Advance(2);
    }

    public static void WriteUInt32(this IBufferWriter<byte> w, uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(w.GetSpan(4), v);
        w.Advance(4);
    }

    public static void WriteUInt64(this IBufferWriter<byte> w, ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(w.GetSpan(8), v);
        w.Advance(8);
    }

    public static void WriteBytes(this IBufferWriter<byte> w, ReadOnlySpan<byte> bytes)
    {
        w.WriteUInt64((ulong)bytes.Length);
        w.Write(bytes);
    }
}

/// <summary>
/// How one .NET type maps to portable binary. Supported: bool, the integer types, float, double, enums, string
/// (UTF-8), byte[] (a byte vector), arrays and lists (vectors), dictionaries (<c>std::map</c>: written in ascending key
/// order), and <c>[MessagePackObject]</c> types whose members carry <c>[Key(n)]</c> (a C++ struct's members in
/// <c>serialize()</c> order). Anything else is refused with <see cref="NotSupportedException"/>.
/// </summary>
internal abstract class Asio2TypeCodec
{
    private static readonly ConcurrentDictionary<Type, Asio2TypeCodec> s_cache = new();

    /// <summary>The fewest bytes a value takes; counts are checked against it.</summary>
    public abstract int MinSize { get; }

    public abstract void Write(IBufferWriter<byte> w, object? value);

    public abstract object? Read(ref PortableReader r);

    public static Asio2TypeCodec For(Type type)
    {
        if (s_cache.TryGetValue(type, out var codec)) return codec;
        codec = Create(type);
        return s_cache.GetOrAdd(type, codec);
    }

    private static Asio2TypeCodec Create(Type type)
    {
        if (type.IsEnum) return new EnumCodec(type, For(Enum.GetUnderlyingType(type)));
        if (type == typeof(bool)) return new Primitive<bool>(1, static (w, v) => w.WriteByte(v ? (byte)1 : (byte)0), static (ref PortableReader r) => r.ReadByte() != 0);
        if (type == typeof(byte)) return new Primitive<byte>(1, static (w, v) => w.WriteByte(v), static (ref PortableReader r) => r.ReadByte());
        if (type == typeof(sbyte)) return new Primitive<sbyte>(1, static (w, v) => w.WriteByte((byte)v), static (ref PortableReader r) => (sbyte)r.ReadByte());
        if (type == typeof(short)) return new Primitive<short>(2, static (w, v) => w.WriteUInt16((ushort)v), static (ref PortableReader r) => (short)r.ReadUInt16());
        if (type == typeof(ushort)) return new Primitive<ushort>(2, static (w, v) => w.WriteUInt16(v), static (ref PortableReader r) => r.ReadUInt16());
        if (type == typeof(int)) return new Primitive<int>(4, static (w, v) => w.WriteUInt32((uint)v), static (ref PortableReader r) => (int)r.ReadUInt32());
        if (type == typeof(uint)) return new Primitive<uint>(4, static (w, v) => w.WriteUInt32(v), static (ref PortableReader r) => r.ReadUInt32());
        if (type == typeof(long)) return new Primitive<long>(8, static (w, v) => w.WriteUInt64((ulong)v), static (ref PortableReader r) => (long)r.ReadUInt64());
        if (type == typeof(ulong)) return new Primitive<ulong>(8, static (w, v) => w.WriteUInt64(v), static (ref PortableReader r) => r.ReadUInt64());
        if (type == typeof(float)) return new Primitive<float>(4, static (w, v) => w.WriteUInt32(BitConverter.SingleToUInt32Bits(v)), static (ref PortableReader r) => BitConverter.UInt32BitsToSingle(r.ReadUInt32()));
        if (type == typeof(double)) return new Primitive<double>(8, static (w, v) => w.WriteUInt64(BitConverter.DoubleToUInt64Bits(v)), static (ref PortableReader r) => BitConverter.UInt64BitsToDouble(r.ReadUInt64()));
        if (type == typeof(string)) return new StringCodec();
        if (type == typeof(byte[])) return new BytesCodec();
        if (type.IsArray && type.GetArrayRank() == 1) return new ListCodec(type, type.GetElementType()!);
        if (type.IsGenericType)
        {
            var def = type.GetGenericTypeDefinition();
            var a = type.GetGenericArguments();
            if (def == typeof(List<>) || def == typeof(IList<>) || def == typeof(IReadOnlyList<>) || def == typeof(ICollection<>)
                || def == typeof(IReadOnlyCollection<>) || def == typeof(IEnumerable<>))
                return new ListCodec(type, a[0]);
            if (def == typeof(Dictionary<,>) || def == typeof(IDictionary<,>) || def == typeof(IReadOnlyDictionary<,>) || def == typeof(SortedDictionary<,>))
                return new MapCodec(type, a[0], a[1]);
        }
        if (type.GetCustomAttribute<MessagePackObjectAttribute>() is not null) return new ObjectCodec(type);
        throw new NotSupportedException($"{type} has no asio2 (cereal portable binary) mapping; use a primitive, string, byte[], array, List<T>, Dictionary<K,V> or a [MessagePackObject] type with [Key(n)] members");
    }

    private delegate T ReadFn<T>(ref PortableReader r);

    private sealed class Primitive<T>(int size, Action<IBufferWriter<byte>, T> write, ReadFn<T> read) : Asio2TypeCodec
    {
        public override int MinSize => size;
        public override void Write(IBufferWriter<byte> w, object? value) => write(w, value is null ? default! : (T)value);
        public override object? Read(ref PortableReader r) => read(ref r);
    }

    private sealed class EnumCodec(Type type, Asio2TypeCodec underlying) : Asio2TypeCodec
    {
        public override int MinSize => underlying.MinSize;
        public override void Write(IBufferWriter<byte> w, object? value) =>
            underlying.Write(w, Convert.ChangeType(value ?? 0, Enum.GetUnderlyingType(type)));
        public override object? Read(ref PortableReader r) => Enum.ToObject(type, underlying.Read(ref r)!);
    }

    private sealed class StringCodec : Asio2TypeCodec
    {
        public override int MinSize => 8;

        public override void Write(IBufferWriter<byte> w, object? value)
        {
            var s = (string?)value ?? "";
            int n = Encoding.UTF8.GetByteCount(s);
            w.WriteUInt64((ulong)n);
            Encoding.UTF8.GetBytes(s, w.GetSpan(n));
            w.Advance(n);
        }

        public override object? Read(ref PortableReader r) => Encoding.UTF8.GetString(r.Take(r.ReadCount(1)));
    }

    private sealed class BytesCodec : Asio2TypeCodec
    {
        public override int MinSize => 8;
        public override void Write(IBufferWriter<byte> w, object? value) => w.WriteBytes((byte[]?)value ?? []);
        public override object? Read(ref PortableReader r) => r.Take(r.ReadCount(1)).ToArray();
    }

    private sealed class ListCodec(Type type, Type elementType) : Asio2TypeCodec
    {
        private readonly Asio2TypeCodec _element = For(elementType);

        public override int MinSize => 8;

        public override void Write(IBufferWriter<byte> w, object? value)
        {
            var items = (ICollection?)value;
            w.WriteUInt64((ulong)(items?.Count ?? 0));
            if (items is null) return;
            foreach (var item in items) _element.Write(w, item);
        }

        public override object? Read(ref PortableReader r)
        {
            r.Enter();
            int count = r.ReadCount(_element.MinSize);
            var array = Array.CreateInstance(elementType, count);
            for (int i = 0; i < count; i++) array.SetValue(_element.Read(ref r), i);
            r.Leave();
            if (type.IsArray) return array;
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType), count)!;
            foreach (var item in array) list.Add(item);
            return list;
        }
    }

    private sealed class MapCodec(Type type, Type keyType, Type valueType) : Asio2TypeCodec
    {
        private readonly Asio2TypeCodec _key = For(keyType);
        private readonly Asio2TypeCodec _value = For(valueType);

        public override int MinSize => 8;

        public override void Write(IBufferWriter<byte> w, object? value)
        {
            var map = (IDictionary?)value;
            w.WriteUInt64((ulong)(map?.Count ?? 0));
            if (map is null) return;
            // std::map iterates in ascending key order; write the same order so the bytes match.
            var keys = new object[map.Count];
            map.Keys.CopyTo(keys, 0);
            Array.Sort(keys, Comparer<object>.Default);
            foreach (var key in keys)
            {
                _key.Write(w, key);
                _value.Write(w, map[key]);
            }
        }

        public override object? Read(ref PortableReader r)
        {
            r.Enter();
            int count = r.ReadCount(_key.MinSize + _value.MinSize);
            var concrete = type.IsInterface ? typeof(Dictionary<,>).MakeGenericType(keyType, valueType) : type;
            var map = (IDictionary)Activator.CreateInstance(concrete)!;
            for (int i = 0; i < count; i++)
            {
                var key = _key.Read(ref r) ?? throw new RpcArgumentException("a null map key");
                map[key] = _value.Read(ref r);
            }
            r.Leave();
            return map;
        }
    }

    /// <summary>A user type: its <c>[Key(n)]</c> fields and properties in ascending key order, nothing around them.</summary>
    private sealed class ObjectCodec : Asio2TypeCodec
    {
        private readonly Type _type;
        private readonly (MemberInfo Member, Type Type, int Key)[] _members;
        private Asio2TypeCodec[]? _codecs;
        private int _minSize = -1;

        public ObjectCodec(Type type)
        {
            _type = type;
            if (!type.IsValueType && type.GetConstructor(Type.EmptyTypes) is null)
                throw new NotSupportedException($"{type} needs a parameterless constructor to be read from the asio2 wire");
            _members = type.GetMembers(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
                .Where(m => m is FieldInfo or PropertyInfo && m.GetCustomAttribute<KeyAttribute>() is not null)
                .Select(m =>
                {
                    var key = m.GetCustomAttribute<KeyAttribute>()!;
                    if (key.IntKey is not { } n) throw new NotSupportedException($"{type}.{m.Name}: the asio2 wire needs integer [Key(n)] members (they give the order)");
                    return (m, m is FieldInfo f ? f.FieldType : ((PropertyInfo)m).PropertyType, n);
                })
                .OrderBy(x => x.n)
                .ToArray();
            if (_members.Length == 0) throw new NotSupportedException($"{type} has no [Key(n)] members");
        }

        // Resolved on first use, so a type that contains a list of itself does not recurse while being built.
        private Asio2TypeCodec[] Codecs => _codecs ??= _members.Select(m => For(m.Type)).ToArray();

        public override int MinSize
        {
            get
            {
                if (_minSize >= 0) return _minSize;
                _minSize = 1; // while computing: a member of this very type counts as one byte
                return _minSize = Math.Max(1, Codecs.Sum(c => c.MinSize));
            }
        }

        public override void Write(IBufferWriter<byte> w, object? value)
        {
            var codecs = Codecs;
            for (int i = 0; i < _members.Length; i++)
            {
                var m = _members[i].Member;
                object? v = value is null ? null : m is FieldInfo f ? f.GetValue(value) : ((PropertyInfo)m).GetValue(value);
                codecs[i].Write(w, v);
            }
        }

        public override object? Read(ref PortableReader r)
        {
            r.Enter();
            var codecs = Codecs;
            var obj = Activator.CreateInstance(_type)!;
            for (int i = 0; i < _members.Length; i++)
            {
                var v = codecs[i].Read(ref r);
                if (_members[i].Member is FieldInfo f) f.SetValue(obj, v);
                else ((PropertyInfo)_members[i].Member).SetValue(obj, v);
            }
            r.Leave();
            return obj;
        }
    }
}
