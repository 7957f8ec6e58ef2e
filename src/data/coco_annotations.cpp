#include "eshift/data/coco_annotations.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <unordered_set>

#include "eshift/core/errors.h"
#include "eshift/core/text.h"

namespace eshift {

namespace {

using nlohmann::json;

// What a file holds: an annotation file's sections, or a results file's one list.
enum class Section { None, Images, Categories, Annotations, Results };

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
  std::vector<std::pair<std::string, Scalar>> scalars;  // a handful: a list beats a map
  std::vector<double> bbox;
  bool bbox_seen = false, bbox_bad = false;
  std::vector<std::vector<double>> polygons;
  bool segmentation_seen = false, segmentation_is_rle = false;
  std::optional<std::string> rle_string;
  std::vector<double> rle_counts, rle_size;
  std::string problem;  // the first structural problem met inside it
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
    s.text = std::move(value);
    return scalar(std::move(s));
  }
  bool binary(binary_t&) override { return true; }

  bool start_object(std::size_t) override {
    if (at_element_level()) element_ = Element{};
    open(true);
    if (in_field("segmentation") && stack_.size() == field_depth() + 2) element_.segmentation_is_rle = true;
    return true;
  }
  bool key(string_t& name) override {
    stack_.back().key = name;
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
    if (in_field("segmentation") && stack_.size() == d + 3 && !stack_[d + 1].object)
      element_.polygons.emplace_back();  // a polygon of a segmentation list
    if (in_field("bbox") && stack_.size() == d + 2) element_.bbox_seen = true;
    if (in_field("segmentation") && stack_.size() == d + 2) element_.segmentation_seen = true;
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

 private:
  struct Frame {
    bool object;
    std::string key;
  };

  void open(bool object) {
    if (stack_.empty()) top_level_array_ = !object;
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
    const std::string& key = stack_[0].key;
    if (key == "images") return Section::Images;
    if (key == "categories") return Section::Categories;
    if (key == "annotations") return Section::Annotations;
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
  bool in_field(const char* name) const { return inside_element() && stack_[field_depth()].key == name; }

  bool integer(int64_t value) {
    Scalar s;
    s.kind = Scalar::Number;
    s.number = double(value);
    s.integral = true;
    s.integer = value;
    return scalar(std::move(s));
  }

  bool scalar(Scalar value) {
    if (!inside_element()) return true;
    const size_t field = field_depth();
    const std::string& name = stack_[field].key;
    if (stack_.size() == field + 1) {  // a field's own value
      if (name == "bbox" || name == "segmentation") {
        if (value.kind != Scalar::Null) note(name + " is not a list");
        return true;
      }
      element_.scalars.emplace_back(name, std::move(value));
      return true;
    }
    if (name == "bbox") {
      if (stack_.size() != field + 2 || value.kind != Scalar::Number)
        element_.bbox_bad = true;
      else
        element_.bbox.push_back(value.number);
      return true;
    }
    if (name != "segmentation") return true;  // a field eshift does not read
    if (stack_[field + 1].object) {           // an RLE
      element_.segmentation_is_rle = true;
      const std::string& key = stack_[field + 1].key;
      if (stack_.size() == field + 2) {
        if (key == "counts" && value.kind == Scalar::String)
          element_.rle_string = std::move(value.text);
        else if (key == "counts" || key == "size")
          note("segmentation " + key + " is neither a list nor a string");
      } else if (stack_.size() == field + 3 && value.kind == Scalar::Number && (key == "counts" || key == "size")) {
        (key == "counts" ? element_.rle_counts : element_.rle_size).push_back(value.number);
      } else if (key == "counts" || key == "size") {
        note("segmentation " + key + " holds something other than numbers");
      }
      return true;
    }
    if (stack_.size() == field + 3 && value.kind == Scalar::Number)
      element_.polygons.back().push_back(value.number);
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
  bool top_level_array_ = false;
  size_t error_position_ = 0;
  std::string error_message_;
};

// Field readers of a finished element; `where` names the file and element in errors.
struct FieldReader {
  const Element& element;
  std::string where;

  [[noreturn]] void fail(const std::string& problem) const { throw DataError(where + ": " + problem); }

  const Scalar* find(const char* name) const {
    for (const auto& [key, value] : element.scalars)
      if (key == name) return value.kind == Scalar::Null ? nullptr : &value;
    return nullptr;
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
        if (!element.rle_string && element.rle_counts.empty()) fail("segmentation has no counts");
        if (element.rle_string) {
          out.rle = coco::rle_from_string(*element.rle_string, h, w);
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
      for (const auto& polygon : element.polygons) {
        if (polygon.size() < 6 || polygon.size() % 2 != 0)
          fail("segmentation holds a polygon of " + std::to_string(polygon.size()) +
               " coordinates (an even number, at least 6, is a polygon)");
        for (double v : polygon)
          if (!std::isfinite(v) || std::abs(v) > 1e8) fail("segmentation holds a coordinate that is not finite");
      }
      out.polygons = element.polygons;
    } catch (const std::invalid_argument& e) {
      fail(std::string("segmentation: ") + e.what());
    }
    return out;
  }
};

template <typename Handler>
void parse_file(const std::string& path, bool results_file, Handler&& handler) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError(path + ": cannot open it");
  std::vector<char> buffer(1 << 20);
  file.rdbuf()->pubsetbuf(buffer.data(), std::streamsize(buffer.size()));
  CocoSax sax(results_file, std::forward<Handler>(handler));
  const bool ok = json::sax_parse(file, &sax);
  if (!ok) {
    std::string message = first_line(sax.error_message());
    throw DataError(path + ": not valid JSON at byte " + std::to_string(sax.error_position()) + ": " + message);
  }
  if (results_file && !sax.saw_top_level_array())
    throw DataError(path + ": a results file is a JSON list of detections");
  if (!results_file && sax.saw_top_level_array())
    throw DataError(path + ": an annotation file is a JSON object with images, categories and annotations");
}

// An RLE must have its image's size.
void check_mask_size(const CocoAnnotation& a, const CocoImage& image, const FieldReader& field) {
  const auto& rle = a.segmentation.rle;
  if (rle && (rle->height != image.height || rle->width != image.width))
    field.fail("segmentation size " + std::to_string(rle->height) + "x" + std::to_string(rle->width) +
               " is not its image's " + std::to_string(image.height) + "x" + std::to_string(image.width));
}

}  // namespace

CocoAnnotationFile read_coco_annotations(const std::string& path) {
  CocoAnnotationFile out;
  out.path = path;
  std::unordered_set<int64_t> ids;
  parse_file(path, false, [&](Section section, Element& element) {
    if (section == Section::Images) {
      FieldReader field{element, path + ": image " + std::to_string(out.images.size() + 1)};
      CocoImage image;
      image.id = field.integer("id");
      field.where = path + ": image " + std::to_string(image.id);
      image.file_name = field.text("file_name");
      const int64_t h = field.integer("height"), w = field.integer("width");
      if (h <= 0 || w <= 0 || h > 100000 || w > 100000) field.fail("height or width is not between 1 and 100000");
      image.height = uint32_t(h);
      image.width = uint32_t(w);
      if (!out.image_index.emplace(image.id, out.images.size()).second) field.fail("appears twice");
      out.images.push_back(std::move(image));
    } else if (section == Section::Categories) {
      FieldReader field{element, path + ": category " + std::to_string(out.categories.size() + 1)};
      CocoCategory category;
      category.id = field.integer("id");
      field.where = path + ": category " + std::to_string(category.id);
      if (field.find("name")) category.name = field.text("name");
      if (!out.category_index.emplace(category.id, out.categories.size()).second) field.fail("appears twice");
      out.categories.push_back(std::move(category));
    } else if (section == Section::Annotations) {
      FieldReader field{element, path + ": annotation " + std::to_string(out.annotations.size() + 1)};
      CocoAnnotation a;
      a.id = field.integer("id");
      field.where = path + ": annotation " + std::to_string(a.id);
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
    const FieldReader field{none, path + ": annotation " + std::to_string(a.id)};
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
    FieldReader field{element, path + ": detection " + std::to_string(d.id)};
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
