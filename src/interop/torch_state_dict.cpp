#include "eshift/interop/torch_state_dict.h"

#include <caffe2/serialize/inline_container.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include "eshift/core/atomic_file.h"
#include "eshift/core/text.h"

namespace eshift {

namespace {

// ---------------------------------------------------------------- the values a pickle builds
struct Value;
using Ref = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Set, Global, Object, Storage, Tensor };
  explicit Value(Kind k) : kind(k) {}
  Kind kind;
  int64_t i = 0;                            // Bool, Int
  double f = 0;                             // Float
  std::string s;                            // Str, Bytes; Global and Object: "module.name"
  std::vector<Ref> items;                   // Tuple, List, Set
  std::vector<std::pair<Ref, Ref>> entries; // Dict
  torch::Tensor tensor;                     // Storage (1-D, its dtype), Tensor
};

Ref make(Value::Kind kind) { return std::make_shared<Value>(kind); }
Ref make_int(int64_t v) {
  auto r = make(Value::Kind::Int);
  r->i = v;
  return r;
}
Ref make_str(Value::Kind kind, std::string s) {
  auto r = make(kind);
  r->s = std::move(s);
  return r;
}

// What a value is, for error messages.
std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "a bool";
    case Value::Kind::Int: return "an int";
    case Value::Kind::Float: return "a float";
    case Value::Kind::Str: return "a str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::Tuple: return "a tuple";
    case Value::Kind::List: return "a list";
    case Value::Kind::Dict: return "a dict";
    case Value::Kind::Set: return "a set";
    case Value::Kind::Global: return "the Python name " + v.s;
    case Value::Kind::Object: return "a " + v.s + " object";
    case Value::Kind::Storage: return "a storage";
    case Value::Kind::Tensor: return "a tensor";
  }
  return "?";
}

// The dtype of a storage class (torch.FloatStorage, …), as torch.save names them.
std::optional<torch::Dtype> storage_dtype(const std::string& name) {
  static const std::map<std::string, torch::Dtype> dtypes = {
      {"torch.FloatStorage", torch::kFloat},         {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},           {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},           {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},         {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},           {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat}, {"torch.ComplexDoubleStorage", torch::kComplexDouble}};
  const auto it = dtypes.find(name);
  if (it == dtypes.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------- the pickle machine
// Runs the opcodes of pickle protocols 0–5 that torch.save and Python's pickler produce for data
// (not the text-only strings of protocol 0, extension codes or out-of-band buffers). Calls are not
// executed: the few that build data (OrderedDict, tensors, parameters, sets) are interpreted, every
// other one becomes an opaque Object.
class Unpickler {
 public:
  Unpickler(const char* data, size_t size, caffe2::serialize::PyTorchStreamReader& archive)
      : p_(data), end_(data + size), archive_(archive) {}

  Ref run() {
    for (;;) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                 // PROTO
        case 0x95: bytes(8); break;               // FRAME (a length hint)
        case '.': return pop();                   // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                   // POP
        case '1': pop_mark(); break;              // POP_MARK
        case '2': push(top()); break;             // DUP
        case 'N': push(make(Value::Kind::None)); break;
        case 0x88: case 0x89: {                   // NEWTRUE, NEWFALSE
          auto b = make(Value::Kind::Bool);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(le(4)))); break;  // BININT
        case 'K': push(make_int(le(1))); break;                         // BININT1
        case 'M': push(make_int(le(2))); break;                         // BININT2
        case 0x8a: push(long_int(le(1))); break;                        // LONG1
        case 0x8b: push(long_int(le(4))); break;                        // LONG4
        case 'I': {                                                     // INT (text; I01/I00 are bools)
          const std::string text = line();
          if (text == "01" || text == "00") {
            auto b = make(Value::Kind::Bool);
            b->i = text == "01";
            push(b);
          } else {
            push(make_int(parse_int(text)));
          }
          break;
        }
        case 'L': {                                                     // LONG (text, trailing L)
          std::string text = line();
          if (!text.empty() && text.back() == 'L') text.pop_back();
          push(make_int(parse_int(text)));
          break;
        }
        case 'G': {                                                     // BINFLOAT (big endian)
          uint64_t bits = 0;
          for (char c : bytes(8)) bits = bits << 8 | static_cast<uint8_t>(c);
          auto f = make(Value::Kind::Float);
          std::memcpy(&f->f, &bits, 8);
          push(f);
          break;
        }
        case 'F': {                                                     // FLOAT (text)
          auto f = make(Value::Kind::Float);
          f->f = std::strtod(line().c_str(), nullptr);
          push(f);
          break;
        }
        case 'X': push(make_str(Value::Kind::Str, bytes(le(4)))); break;     // BINUNICODE
        case 0x8c: push(make_str(Value::Kind::Str, bytes(le(1)))); break;    // SHORT_BINUNICODE
        case 0x8d: push(make_str(Value::Kind::Str, bytes(le(8)))); break;    // BINUNICODE8
        case 'T': push(make_str(Value::Kind::Bytes, bytes(le(4)))); break;   // BINSTRING
        case 'U': push(make_str(Value::Kind::Bytes, bytes(le(1)))); break;   // SHORT_BINSTRING
        case 'B': push(make_str(Value::Kind::Bytes, bytes(le(4)))); break;   // BINBYTES
        case 'C': push(make_str(Value::Kind::Bytes, bytes(le(1)))); break;   // SHORT_BINBYTES
        case 0x8e: case 0x96: push(make_str(Value::Kind::Bytes, bytes(le(8)))); break;  // BINBYTES8, BYTEARRAY8
        case ')': push(make(Value::Kind::Tuple)); break;                     // EMPTY_TUPLE
        case 't': push(sequence(Value::Kind::Tuple, pop_mark())); break;     // TUPLE
        case 0x85: case 0x86: case 0x87: {                                   // TUPLE1, TUPLE2, TUPLE3
          const size_t n = op - 0x84;
          need(n);
          std::vector<Ref> items(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(sequence(Value::Kind::Tuple, std::move(items)));
          break;
        }
        case ']': push(make(Value::Kind::List)); break;                      // EMPTY_LIST
        case 'l': push(sequence(Value::Kind::List, pop_mark())); break;      // LIST
        case 'a': {                                                          // APPEND
          auto item = pop();
          target(Value::Kind::List)->items.push_back(item);
          break;
        }
        case 'e': {                                                          // APPENDS
          auto items = pop_mark();
          auto& list = target(Value::Kind::List)->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case 0x8f: push(make(Value::Kind::Set)); break;                      // EMPTY_SET
        case 0x90: {                                                         // ADDITEMS
          auto items = pop_mark();
          auto& set = target(Value::Kind::Set)->items;
          set.insert(set.end(), items.begin(), items.end());
          break;
        }
        case 0x91: push(sequence(Value::Kind::Set, pop_mark())); break;      // FROZENSET
        case '}': push(make(Value::Kind::Dict)); break;                      // EMPTY_DICT
        case 'd': {                                                          // DICT
          auto dict = make(Value::Kind::Dict);
          set_items(*dict, pop_mark());
          push(dict);
          break;
        }
        case 's': {                                                          // SETITEM
          auto value = pop();
          auto key = pop();
          set_items(*target(Value::Kind::Dict), {key, value});
          break;
        }
        case 'u': {                                                          // SETITEMS
          auto items = pop_mark();
          set_items(*target(Value::Kind::Dict), items);
          break;
        }
        case 'q': memo_[le(1)] = top(); break;                               // BINPUT
        case 'r': memo_[le(4)] = top(); break;                               // LONG_BINPUT
        case 'p': memo_[parse_int(line())] = top(); break;                   // PUT
        case 0x94: memo_[static_cast<int64_t>(memo_.size())] = top(); break; // MEMOIZE
        case 'h': push(memo(le(1))); break;                                  // BINGET
        case 'j': push(memo(le(4))); break;                                  // LONG_BINGET
        case 'g': push(memo(parse_int(line()))); break;                      // GET
        case 'c': {                                                          // GLOBAL
          std::string module = line();
          push(global(module, line()));
          break;
        }
        case 0x93: {                                                         // STACK_GLOBAL
          auto name = pop(), module = pop();
          if (module->kind != Value::Kind::Str || name->kind != Value::Kind::Str) fail("STACK_GLOBAL without names");
          push(global(module->s, name->s));
          break;
        }
        case 'R': {                                                          // REDUCE
          auto args = pop();
          auto callable = pop();
          push(call(*callable, *args));
          break;
        }
        case 0x81: {                                                         // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(call(*cls, *args));
          break;
        }
        case 0x92: {                                                         // NEWOBJ_EX
          pop();  // keyword arguments
          auto args = pop();
          auto cls = pop();
          push(call(*cls, *args));
          break;
        }
        case 'b': pop(); need(1); break;  // BUILD: an object's state (an OrderedDict's _metadata): not kept
        case 'Q': push(persistent(*pop())); break;                           // BINPERSID
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(what); }

  uint8_t byte() {
    if (p_ >= end_) fail("the pickle ends early");
    return static_cast<uint8_t>(*p_++);
  }
  std::string bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("the pickle ends early");
    std::string out(p_, n);
    p_ += n;
    return out;
  }
  uint64_t le(int n) {
    uint64_t v = 0;
    const std::string b = bytes(n);
    for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<uint8_t>(b[k]);
    return v;
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("the pickle ends early");
    std::string out(p_, nl);
    p_ = nl + 1;
    return out;
  }
  int64_t parse_int(const std::string& text) {
    try {
      size_t used = 0;
      const int64_t v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    fail("a malformed integer in the pickle");
  }
  // LONG1/LONG4: n bytes, little-endian two's complement; up to 8 bytes fit an int
  Ref long_int(uint64_t n) {
    const std::string b = bytes(n);
    if (n > 8) return make_str(Value::Kind::Object, "int (beyond 64 bits)");
    uint64_t v = 0;
    for (int k = static_cast<int>(n) - 1; k >= 0; --k) v = v << 8 | static_cast<uint8_t>(b[k]);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return make_int(static_cast<int64_t>(v));
  }

  void push(Ref v) { stack_.push_back(std::move(v)); }
  void need(size_t n) const {
    const size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) fail("a malformed pickle (its stack runs empty)");
  }
  Ref pop() {
    need(1);
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const Ref& top() const {
    need(1);
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("a malformed pickle (no mark)");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  Value* target(Value::Kind kind) const {
    const auto& t = top();
    if (t->kind != kind) fail("a malformed pickle (items added to " + describe(*t) + ")");
    return t.get();
  }
  Ref memo(int64_t key) const {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("a malformed pickle (memo " + std::to_string(key) + " unset)");
    return it->second;
  }
  static Ref sequence(Value::Kind kind, std::vector<Ref> items) {
    auto r = make(kind);
    r->items = std::move(items);
    return r;
  }
  void set_items(Value& dict, const std::vector<Ref>& items) const {
    if (items.size() % 2) fail("a malformed pickle (a dict item without value)");
    for (size_t k = 0; k < items.size(); k += 2) {
      bool replaced = false;  // a key set twice keeps its last value, as in Python
      if (items[k]->kind == Value::Kind::Str)
        for (auto& [key, value] : dict.entries)
          if (key->kind == Value::Kind::Str && key->s == items[k]->s) {
            value = items[k + 1];
            replaced = true;
          }
      if (!replaced) dict.entries.emplace_back(items[k], items[k + 1]);
    }
  }

  static Ref global(std::string module, const std::string& name) {
    if (module == "__builtin__") module = "builtins";  // protocol 2 writes Python 2's names
    if (module == "copy_reg") module = "copyreg";
    return make_str(Value::Kind::Global, module + "." + name);
  }

  Ref call(const Value& callable, const Value& args) {
    if (args.kind != Value::Kind::Tuple) fail("a malformed pickle (call arguments are " + describe(args) + ")");
    const auto& a = args.items;
    const std::string name = callable.kind == Value::Kind::Global ? callable.s : "";
    if (name == "collections.OrderedDict" || name == "builtins.dict") return make(Value::Kind::Dict);
    if (name == "builtins.set" || name == "builtins.frozenset") {
      auto set = make(Value::Kind::Set);
      if (!a.empty() && (a[0]->kind == Value::Kind::List || a[0]->kind == Value::Kind::Tuple)) set->items = a[0]->items;
      return set;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(a);
    if ((name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") && !a.empty())
      return a[0];  // nn.Parameter(data): the data
    if (name == "torch._utils._rebuild_from_type_v2" && a.size() >= 3)  // (func, type, args, state): a tensor subclass
      return call(*a[0], *a[2]);
    // what LibTorch's pickler (torch::pickle_save) wraps typed containers in: restore_type_tag(value, "Dict[str, Tensor]"),
    // build_intlist(list), …
    if (name.rfind("torch.jit._pickle.", 0) == 0 && name != "torch.jit._pickle.build_tensor_from_id" && !a.empty())
      return a[0];
    auto object = make_str(Value::Kind::Object, name.empty() ? "unknown" : name);
    object->items = a;
    return object;
  }

  // ('storage', torch.FloatStorage, key, location, numel) → the record data/<key> as a 1-D tensor
  Ref persistent(const Value& id) {
    const auto& t = id.items;
    if (id.kind != Value::Kind::Tuple || t.size() < 5 || t[0]->kind != Value::Kind::Str || t[0]->s != "storage" ||
        t[2]->kind != Value::Kind::Str || t[4]->kind != Value::Kind::Int)
      fail("an unknown persistent object in the pickle");
    const auto dtype = storage_dtype(t[1]->s);
    if (!dtype) fail("unsupported storage type " + t[1]->s);
    const std::string& key = t[2]->s;
    auto& storage = storages_[key];
    if (!storage) {
      const std::string record = "data/" + key;
      if (!archive_.hasRecord(record)) fail("the archive has no record " + record);
      auto [data, size] = archive_.getRecord(record);
      const int64_t numel = t[4]->i;
      const int64_t item = static_cast<int64_t>(c10::elementSize(*dtype));
      if (numel < 0 || static_cast<uint64_t>(numel) > size / item)
        fail("record " + record + " holds " + std::to_string(size) + " bytes, less than its " + std::to_string(numel) +
             " elements");
      storage = make(Value::Kind::Storage);
      storage->tensor = torch::empty({numel}, torch::TensorOptions().dtype(*dtype));
      if (numel > 0) std::memcpy(storage->tensor.data_ptr(), data.get(), numel * item);
    } else if (storage->tensor.scalar_type() != *dtype) {
      fail("storage " + key + " is read as two dtypes");
    }
    return storage;
  }

  std::vector<int64_t> int_tuple(const Ref& v) const {
    if (v->kind != Value::Kind::Tuple) fail("a malformed tensor (its size or stride is " + describe(*v) + ")");
    std::vector<int64_t> out;
    for (const auto& item : v->items) {
      if (item->kind != Value::Kind::Int || item->i < 0) fail("a malformed tensor (a size or stride that is not a count)");
      out.push_back(item->i);
    }
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  Ref rebuild_tensor(const std::vector<Ref>& a) const {
    if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int)
      fail("a malformed tensor in the pickle");
    const auto& storage = a[0]->tensor;
    const int64_t offset = a[1]->i;
    const auto size = int_tuple(a[2]), stride = int_tuple(a[3]);
    if (size.size() != stride.size()) fail("a malformed tensor (size and stride of different lengths)");
    // every element must lie inside the storage
    __int128 last = offset, numel = 1;
    for (size_t d = 0; d < size.size(); ++d) {
      numel *= size[d];
      if (size[d] > 0) last += static_cast<__int128>(size[d] - 1) * stride[d];
    }
    if (offset < 0 || (numel > 0 && last >= storage.numel()))
      fail("a malformed tensor (it reaches past its storage of " + std::to_string(storage.numel()) + " elements)");
    auto r = make(Value::Kind::Tensor);
    r->tensor = storage.as_strided(size, stride, offset);
    return r;
  }

  const char* p_;
  const char* end_;
  caffe2::serialize::PyTorchStreamReader& archive_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, Ref> memo_;
  std::map<std::string, Ref> storages_;
};

const char* const kConvertHint = "python3 scripts/convert_legacy_checkpoint.py";

// The object a torch.save file holds; every problem is a one-line CheckpointError naming the file.
Ref read_pickle(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such file");
  char head[8] = {};
  {
    std::ifstream in(path, std::ios::binary);
    in.read(head, sizeof head);
  }
  if (std::memcmp(head, "ESHIFTCK", 8) == 0)
    throw CheckpointError(path + " is an eshift checkpoint, not a PyTorch file (eshift eval --checkpoint and "
                                 "eshift train --resume-from read it)");
  if (std::memcmp(head, "PK\x03\x04", 4) != 0) {
    if (static_cast<uint8_t>(head[0]) == 0x80)  // a pickle's PROTO: torch.save's legacy format
      throw CheckpointError(path + " is in PyTorch's legacy (non-zip) format, which LibTorch cannot read: convert it with `" +
                            kConvertHint + " " + path + " OUT.pt`");
    throw CheckpointError(path + ": not a PyTorch file (neither torch.save's zip format nor its legacy format)");
  }
  try {
    caffe2::serialize::PyTorchStreamReader archive(path);
    if (archive.hasRecord("constants.pkl"))
      throw CheckpointError(path + " is a TorchScript module (torch.jit.save), not a state dict: save "
                                   "model.state_dict() with torch.save instead");
    if (!archive.hasRecord("data.pkl")) throw CheckpointError(path + ": a zip archive without data.pkl, not written by torch.save");
    if (archive.hasRecord("byteorder")) {
      auto [order, n] = archive.getRecord("byteorder");
      if (std::string(static_cast<const char*>(order.get()), n) != "little")
        throw CheckpointError(path + ": written on a big-endian machine; convert it with `" + kConvertHint + "` there");
    }
    auto [data, size] = archive.getRecord("data.pkl");
    return Unpickler(static_cast<const char*>(data.get()), size, archive).run();
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": not a readable PyTorch file (" + first_line(e.what()) + ")");
  }
}

}  // namespace

StateDict read_torch_state_dict(const std::string& path) {
  const Ref top = read_pickle(path);
  if (top->kind != Value::Kind::Dict)
    throw CheckpointError(path + ": not a PyTorch state dict (it holds " + describe(*top) + ", not a dict of tensors)");
  const Value* dict = top.get();
  for (const auto& [key, value] : top->entries)
    if (key->kind == Value::Kind::Str && key->s == "state_dict" && value->kind == Value::Kind::Dict) dict = value.get();
  StateDict out;
  for (const auto& [key, value] : dict->entries) {
    if (key->kind != Value::Kind::Str)
      throw CheckpointError(path + ": not a PyTorch state dict (a key is " + describe(*key) + ", not a str)");
    if (value->kind != Value::Kind::Tensor)
      throw CheckpointError(path + ": not a PyTorch state dict ('" + key->s + "' holds " + describe(*value) + ", not a tensor" +
                            (dict == top.get() ? "; a checkpoint dict needs a 'state_dict' entry" : "") + ")");
    std::string name = key->s;
    if (name.rfind("module.", 0) == 0) name = name.substr(7);  // DataParallel / DDP
    for (const auto& [seen, ignored] : out)
      if (seen == name) throw CheckpointError(path + ": '" + name + "' appears twice (with and without 'module.')");
    out.emplace_back(std::move(name), value->tensor);
  }
  return out;
}

torch::Tensor read_torch_tensor(const std::string& path) {
  const Ref top = read_pickle(path);
  if (top->kind != Value::Kind::Tensor)
    throw CheckpointError(path + ": holds " + describe(*top) + ", not a tensor");
  return top->tensor;
}

void write_torch_tensor(const std::string& path, const torch::Tensor& tensor) {
  const std::vector<char> bytes = torch::pickle_save(tensor.detach().to(torch::kCPU).contiguous());
  write_file_atomic(path, {std::string_view(bytes.data(), bytes.size())});
}

}  // namespace eshift
