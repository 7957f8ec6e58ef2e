#include "eshift/data/coco_annotations.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <functional>
#include <unordered_set>

#include "eshift/core/errors.h"
#include "eshift/core/text.h"

namespace eshift {

namespace {

using nlohmann::json;

// What a file holds: an annotation file's sections, or a results file's one list.
enum class Section { None, Images, Categories, Annotations, Results };

// The keys the reader acts on, recognized once per key.
enum class Key { Other, Id, ImageId, CategoryId, Bbox, Area, Iscrowd, Segmentation, Score, Counts, Size, FileName,
                 Height, Width, Name, Images, Categories, Annotations };

Key key_of(std::string_view name) {
  static const std::pair<std::string_view, Key> keys[] = {
      {"id", Key::Id},           {"image_id", Key::ImageId},   {"category_id", Key::CategoryId},
      {"bbox", Key::Bbox},       {"area", Key::Area},          {"iscrowd", Key::Iscrowd},
      {"segmentation", Key::Segmentation}, {"score", Key::Score}, {"counts", Key::Counts},
      {"size", Key::Size},       {"file_name", Key::FileName}, {"height", Key::Height},
      {"width", Key::Width},     {"name", Key::Name},          {"images", Key::Images},
      {"categories", Key::Categories}, {"annotations", Key::Annotations}};
  for (const auto& [text, key] : keys)
    if (text == name) return key;
  return Key::Other;
}

// A number or string as it was read, before the element it belongs to is known to be complete.
struct Scalar {
  enum Kind { Number, String, Bool, Null } kind = Null;
  double number = 0;
  bool integral = false;
  int64_t integer = 0;
  std::string text;
};

// One element (image, category, annotation or detection) as its fields arrive.
struct Element {
  std::vector<std::pair<Key, Scalar>> scalars;  // a handful: a list beats a map
  std::vector<double> bbox;
  bool bbox_seen = false, bbox_bad = false;
  std::vector<std::vector<double>> polygons;
  bool segmentation_seen = false, segmentation_is_rle = false;
  std::string rle_string;  // compressed counts, when has_rle_string (the buffer is reused)
  bool has_rle_string = false;
  std::vector<double> rle_counts, rle_size;
  std::string problem;  // the first structural problem met inside it

  // Empty again, keeping the memory (one element after another reuses it).
  void clear() {
    scalars.clear();
    bbox.clear();
    bbox_seen = bbox_bad = segmentation_seen = segmentation_is_rle = false;
    polygons.clear();
    has_rle_string = false;
    rle_counts.clear();
    rle_size.clear();
    problem.clear();
  }
};

// The SAX handler: a stack of the objects and arrays it is inside, each with the key it is at.
class CocoSax : public nlohmann::json_sax<json> {
 public:
  using Finish = std::function<void(Section, Element&)>;
  CocoSax(bool results_file, Finish finish) : results_file_(results_file), finish_(std::move(finish)) {}

  bool null() override { return scalar(Scalar{}); }
  bool boolean(bool value) override {
    Scalar s;
    s.kind = Scalar::Bool;
    s.number = value;
    s.integral = true;
    s.integer = value;
    return scalar(std::move(s));
  }
  bool number_integer(number_integer_t value) override { return integer(value); }
  bool number_unsigned(number_unsigned_t value) override {
    if (value > uint64_t(INT64_MAX)) return number_float(double(value), {});
    return integer(int64_t(value));
  }
  bool number_float(number_float_t value, const string_t&) override {
    Scalar s;
    s.kind = Scalar::Number;
    s.number = value;
    s.integral = std::isfinite(value) && std::floor(value) == value && std::abs(value) < 9e15;
    s.integer = s.integral ? int64_t(value) : 0;
    return scalar(std::move(s));
  }
  bool string(string_t& value) override {
    Scalar s;
    s.kind = Scalar::String;
    return scalar(std::move(s), &value);
  }
  bool binary(binary_t&) override { return true; }

  bool start_object(std::size_t) override {
    if (at_element_level()) element_.clear();
    open(true);
    if (in_field(Key::Segmentation) && stack_.size() == field_depth() + 2) element_.segmentation_is_rle = true;
    return true;
  }
  bool key(string_t& name) override {
    stack_.back().key = key_of(name);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    if (at_element_level()) finish_(section(), element_);
    return true;
  }
  bool start_array(std::size_t) override {
    open(false);
    const size_t d = inside_element() ? field_depth() : 0;
    if (in_field(Key::Segmentation) && stack_.size() == d + 3 && !stack_[d + 1].object)
      element_.polygons.emplace_back();  // a polygon of a segmentation list
    if (in_field(Key::Bbox) && stack_.size() == d + 2) element_.bbox_seen = true;
    if (in_field(Key::Segmentation) && stack_.size() == d + 2) element_.segmentation_seen = true;
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error_position_ = position;
    error_message_ = e.what();
    return false;
  }

  size_t error_position() const { return error_position_; }
  const std::string& error_message() const { return error_message_; }
  bool saw_top_level_array() const { return top_level_array_; }
  bool saw_top_level_object() const { return top_level_container_ && !top_level_array_; }

 private:
  struct Frame {
    bool object;
    Key key = Key::Other;
  };

  void open(bool object) {
    if (stack_.empty()) {
      top_level_array_ = !object;
      top_level_container_ = true;
    }
    stack_.push_back({object, {}});
  }

  // The annotation file: {"images": [ {element} ]} puts an element at depth 2 (the stack below it
  // holds the object and the array); the results file: [ {element} ] at depth 1.
  std::optional<size_t> element_depth() const {
    if (results_file_) return stack_.empty() || stack_[0].object ? std::nullopt : std::optional<size_t>(1);
    if (section() == Section::None) return std::nullopt;
    return 2;
  }
  Section section() const {
    if (results_file_) return Section::Results;
    if (stack_.empty() || !stack_[0].object) return Section::None;
    const Key key = stack_[0].key;
    if (key == Key::Images) return Section::Images;
    if (key == Key::Categories) return Section::Categories;
    if (key == Key::Annotations) return Section::Annotations;
    return Section::None;
  }
  // Whether the next object (or the one just closed) is an element: directly in its section's list.
  bool at_element_level() const {
    const auto depth = element_depth();
    return depth && stack_.size() == *depth && !stack_.back().object;
  }
  // Inside an element, the stack position of its object; its field is that frame's key.
  size_t field_depth() const { return *element_depth(); }
  bool inside_element() const {
    const auto depth = element_depth();
    return depth && stack_.size() > *depth && (*depth == 0 || !stack_[*depth - 1].object) &&
           stack_[*depth].object;
  }
  bool in_field(Key key) const { return inside_element() && stack_[field_depth()].key == key; }

  bool integer(int64_t value) {
    Scalar s;
    s.kind = Scalar::Number;
    s.number = double(value);
    s.integral = true;
    s.integer = value;
    return scalar(std::move(s));
  }

  // A value; a string's text is `text` (copied only where it is kept).
  bool scalar(Scalar value, const std::string* text = nullptr) {
    if (!inside_element()) return true;
    const size_t field = field_depth();
    const Key name = stack_[field].key;
    if (stack_.size() == field + 1) {  // a field's own value
      if (name == Key::Bbox || name == Key::Segmentation) {
        if (value.kind != Scalar::Null) note(name == Key::Bbox ? "bbox is not a list" : "segmentation is not a list");
        return true;
      }
      if (text) value.text = *text;
      element_.scalars.emplace_back(name, std::move(value));
      return true;
    }
    if (name == Key::Bbox) {
      if (stack_.size() != field + 2 || value.kind != Scalar::Number)
        element_.bbox_bad = true;
      else
        element_.bbox.push_back(value.number);
      return true;
    }
    if (name != Key::Segmentation) return true;  // a field eshift does not read
    if (stack_[field + 1].object) {           // an RLE
      element_.segmentation_is_rle = true;
      const Key key = stack_[field + 1].key;
      const char* key_name = key == Key::Counts ? "counts" : "size";
      if (stack_.size() == field + 2) {
        if (key == Key::Counts && value.kind == Scalar::String) {
          element_.rle_string.assign(*text);  // a copy: the lexer keeps its buffer for the next string
          element_.has_rle_string = true;
        } else if (key == Key::Counts || key == Key::Size)
          note(std::string("segmentation ") + key_name + " is neither a list nor a string");
      } else if (stack_.size() == field + 3 && !stack_[field + 2].object && value.kind == Scalar::Number &&
                 (key == Key::Counts || key == Key::Size)) {
        (key == Key::Counts ? element_.rle_counts : element_.rle_size).push_back(value.number);
      } else if (key == Key::Counts || key == Key::Size) {
        note(std::string("segmentation ") + key_name + " holds something other than numbers");
      }
      return true;
    }
    if (stack_.size() == field + 3 && !stack_[field + 2].object && value.kind == Scalar::Number)
      element_.polygons.back().push_back(value.number);  // a polygon's coordinate (an object is not a polygon)
    else
      note("segmentation polygons are not lists of numbers");
    return true;
  }

  void note(const std::string& problem) {
    if (element_.problem.empty()) element_.problem = problem;
  }

  bool results_file_;
  Finish finish_;
  std::vector<Frame> stack_;
  Element element_;
  bool top_level_array_ = false, top_level_container_ = false;
  size_t error_position_ = 0;
  std::string error_message_;
};

// Field readers of a finished element; `where` names the file and element in errors.
struct FieldReader {
  const Element& element;
  const std::string& path;
  const char* kind;  // "image", "category", "annotation", "detection"
  int64_t id;        // its id (its position in the file until the id is read)

  [[noreturn]] void fail(const std::string& problem) const {
    throw DataError(path + ": " + kind + " " + std::to_string(id) + ": " + problem);
  }

  const Scalar* find(const char* name) const {
    const Key wanted = key_of(name);
    const Scalar* found = nullptr;  // a key given twice: the last, as Python's json reads it
    for (const auto& [key, value] : element.scalars)
      if (key == wanted) found = &value;
    return found && found->kind == Scalar::Null ? nullptr : found;
  }
  int64_t integer(const char* name) const {
    const Scalar* s = find(name);
    if (!s) fail(std::string("has no ") + name);
    if (s->kind != Scalar::Number || !s->integral) fail(std::string(name) + " is not an integer");
    return s->integer;
  }
  double number(const char* name) const {
    const Scalar* s = find(name);
    if (!s) fail(std::string("has no ") + name);
    if (s->kind != Scalar::Number || !std::isfinite(s->number)) fail(std::string(name) + " is not a finite number");
    return s->number;
  }
  std::string text(const char* name) const {
    const Scalar* s = find(name);
    if (!s || s->kind != Scalar::String) fail(std::string("has no ") + name + " string");
    return s->text;
  }
  bool flag(const char* name) const {
    const Scalar* s = find(name);
    if (!s) return false;
    if ((s->kind != Scalar::Number && s->kind != Scalar::Bool) || !s->integral || (s->integer != 0 && s->integer != 1))
      fail(std::string(name) + " is not 0 or 1");
    return s->integer == 1;
  }
  std::optional<coco::Box> box() const {
    if (!element.bbox_seen) return std::nullopt;
    if (element.bbox_bad || element.bbox.size() != 4) fail("bbox is not a list of 4 numbers");
    coco::Box box{element.bbox[0], element.bbox[1], element.bbox[2], element.bbox[3]};
    for (double v : box)
      if (!std::isfinite(v)) fail("bbox holds a number that is not finite");
    if (box[2] < 0 || box[3] < 0) fail("bbox has a negative width or height");
    return box;
  }
  // The segmentation as it is written (an RLE with its own size; sizes are checked against the
  // image by the caller).
  CocoSegmentation segmentation() const {
    CocoSegmentation out;
    if (!element.problem.empty()) fail(element.problem);
    if (!element.segmentation_seen && !element.segmentation_is_rle) return out;
    try {
      if (element.segmentation_is_rle) {
        if (element.rle_size.size() != 2) fail("segmentation size is not [height, width]");
        for (double v : element.rle_size)
          if (!(v >= 0 && v <= 100000 && std::floor(v) == v)) fail("segmentation size is not [height, width]");
        const uint32_t h = uint32_t(element.rle_size[0]), w = uint32_t(element.rle_size[1]);
        if (uint64_t(h) * w > uint64_t(coco::kMaxMaskPixels)) fail("segmentation size is over 2^31 - 1 pixels");
        if (!element.has_rle_string && element.rle_counts.empty()) fail("segmentation has no counts");
        if (element.has_rle_string) {
          out.rle = coco::rle_from_string(element.rle_string, h, w);
        } else {
          std::vector<uint32_t> counts;
          counts.reserve(element.rle_counts.size());
          for (double v : element.rle_counts) {
            if (!(v >= 0 && v <= double(UINT32_MAX) && std::floor(v) == v))
              fail("segmentation counts hold " + std::to_string(v));
            counts.push_back(uint32_t(v));
          }
          out.rle = coco::rle_from_counts(std::move(counts), h, w);
        }
        return out;
      }
      // pycocotools reads a first polygon of 4 numbers as a box and refuses fewer; it rasterizes
      // later ones of any point (one or two points: nothing; an odd last number is left out)
      for (size_t i = 0; i < element.polygons.size(); ++i) {
        const auto& polygon = element.polygons[i];
        if (polygon.size() < (i == 0 ? 6u : 2u))
          fail("segmentation holds a polygon of " + std::to_string(polygon.size()) + " coordinates (" +
               (i == 0 ? "the first needs 3 points" : "one needs a point") + ")");
        for (double v : polygon)
          if (!std::isfinite(v)) fail("segmentation holds a coordinate that is not finite");
      }
      out.polygons = element.polygons;
    } catch (const std::invalid_argument& e) {
      fail(std::string("segmentation: ") + e.what());
    }
    return out;
  }
};

// The file mapped into memory (read-only, paged in as the parser goes: nothing is copied).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw DataError(path + ": cannot open it (" + std::strerror(errno) + ")");
    struct stat info {};
    if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
      ::close(fd_);
      throw DataError(path + ": not a regular file");
    }
    size_ = size_t(info.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (data == MAP_FAILED) {
        ::close(fd_);
        throw DataError(path + ": cannot map it (" + std::strerror(errno) + ")");
      }
      data_ = static_cast<const char*>(data);
      ::madvise(data, size_, MADV_SEQUENTIAL);
    }
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
    ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* begin() const { return data_ ? data_ : ""; }
  const char* end() const { return begin() + size_; }

 private:
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

template <typename Handler>
void parse_file(const std::string& path, bool results_file, Handler&& handler) {
  const MappedFile file(path);
  CocoSax sax(results_file, std::forward<Handler>(handler));
  const bool ok = json::sax_parse(file.begin(), file.end(), &sax);
  if (!ok) {
    std::string message = first_line(sax.error_message());
    throw DataError(path + ": not valid JSON at byte " + std::to_string(sax.error_position()) + ": " + message);
  }
  if (results_file && !sax.saw_top_level_array())
    throw DataError(path + ": a results file is a JSON list of detections");
  if (!results_file && !sax.saw_top_level_object())
    throw DataError(path + ": an annotation file is a JSON object with images, categories and annotations");
}

// An RLE must have its image's size; a polygon must stay within reach of it (coco_mask.h).
void check_mask_size(const CocoAnnotation& a, const CocoImage& image, const FieldReader& field) {
  const auto& rle = a.segmentation.rle;
  if (rle && (rle->height != image.height || rle->width != image.width))
    field.fail("segmentation size " + std::to_string(rle->height) + "x" + std::to_string(rle->width) +
               " is not its image's " + std::to_string(image.height) + "x" + std::to_string(image.width));
  const double reach = coco::kPolygonReach * std::max(image.height, image.width);
  for (const auto& polygon : a.segmentation.polygons)
    for (double v : polygon)
      if (std::abs(v) > reach)
        field.fail("segmentation holds a coordinate of " + std::to_string(v) + ", more than " +
                   std::to_string(int(coco::kPolygonReach)) + " image sides from its image");
}

}  // namespace

CocoAnnotationFile read_coco_annotations(const std::string& path) {
  CocoAnnotationFile out;
  out.path = path;
  std::unordered_set<int64_t> ids;
  parse_file(path, false, [&](Section section, Element& element) {
    if (section == Section::Images) {
      FieldReader field{element, path, "image", int64_t(out.images.size()) + 1};
      CocoImage image;
      image.id = field.integer("id");
      field.id = image.id;
      image.file_name = field.text("file_name");
      const int64_t h = field.integer("height"), w = field.integer("width");
      if (h <= 0 || w <= 0 || h > 100000 || w > 100000) field.fail("height or width is not between 1 and 100000");
      if (h * w > coco::kMaxMaskPixels) field.fail("height × width is over 2^31 - 1 pixels");
      image.height = uint32_t(h);
      image.width = uint32_t(w);
      if (!out.image_index.emplace(image.id, out.images.size()).second) field.fail("appears twice");
      out.images.push_back(std::move(image));
    } else if (section == Section::Categories) {
      FieldReader field{element, path, "category", int64_t(out.categories.size()) + 1};
      CocoCategory category;
      category.id = field.integer("id");
      field.id = category.id;
      if (field.find("name")) category.name = field.text("name");
      if (!out.category_index.emplace(category.id, out.categories.size()).second) field.fail("appears twice");
      out.categories.push_back(std::move(category));
    } else if (section == Section::Annotations) {
      FieldReader field{element, path, "annotation", int64_t(out.annotations.size()) + 1};
      CocoAnnotation a;
      a.id = field.integer("id");
      field.id = a.id;
      if (!ids.insert(a.id).second) field.fail("appears twice");
      a.image_id = field.integer("image_id");
      a.category_id = field.integer("category_id");
      a.bbox = field.box();
      if (!a.bbox) field.fail("has no bbox");
      a.area = field.number("area");
      a.iscrowd = field.flag("iscrowd");
      a.segmentation = field.segmentation();
      out.annotations.push_back(std::move(a));
    }
  });
  // The images and categories may come after the annotations in the file: check these now.
  for (const CocoAnnotation& a : out.annotations) {
    const Element none;
    const FieldReader field{none, path, "annotation", a.id};
    auto image = out.image_index.find(a.image_id);
    if (image == out.image_index.end()) field.fail("image_id " + std::to_string(a.image_id) + " is not among the images");
    if (!out.category_index.count(a.category_id))
      field.fail("category_id " + std::to_string(a.category_id) + " is not among the categories");
    check_mask_size(a, out.images[image->second], field);
  }
  return out;
}

std::vector<CocoAnnotation> read_coco_results(const std::string& path, const CocoAnnotationFile& truth) {
  std::vector<CocoAnnotation> out;
  parse_file(path, true, [&](Section, Element& element) {
    CocoAnnotation d;
    d.id = int64_t(out.size()) + 1;
    FieldReader field{element, path, "detection", d.id};
    d.image_id = field.integer("image_id");
    d.category_id = field.integer("category_id");
    d.score = field.number("score");
    auto image = truth.image_index.find(d.image_id);
    if (image == truth.image_index.end())
      field.fail("image_id " + std::to_string(d.image_id) + " is not among the images of " + truth.path);
    d.bbox = field.box();
    d.segmentation = field.segmentation();
    check_mask_size(d, truth.images[image->second], field);
    if (!d.bbox && d.segmentation.empty()) field.fail("has neither bbox nor segmentation");
    // pycocotools' loadRes takes every detection's area from its box when the first has one
    if (!d.bbox && !out.empty() && out.front().bbox)
      field.fail("has no bbox, but the first detection of the file has one (pycocotools then takes every area from the box)");
    out.push_back(std::move(d));
  });
  return out;
}

coco::Rle annotation_mask(const CocoAnnotation& annotation, const CocoImage& image) {
  if (annotation.segmentation.rle) return *annotation.segmentation.rle;
  std::vector<coco::Rle> parts;
  parts.reserve(annotation.segmentation.polygons.size());
  for (const auto& polygon : annotation.segmentation.polygons)
    parts.push_back(coco::rle_from_polygon(polygon, image.height, image.width));
  if (parts.empty()) return coco::Rle{image.height, image.width, {image.height * image.width}};
  return coco::rle_union(parts);
}

}  // namespace eshift
