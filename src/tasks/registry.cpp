#include "eshift/tasks/registry.h"

#include <stdexcept>

#include "eshift/core/named.h"
#include "eshift/tasks/classification.h"
#include "eshift/tasks/detection.h"

namespace eshift {

const std::vector<TaskEntry>& task_registry() {
  static const std::vector<TaskEntry> entries = {
      {"classify", "image classification: cross-entropy (with --label-smoothing), top-1 (and --top5) accuracy",
       [](const TaskOptions& o) { return classification_task({o.label_smoothing, o.top5}); }},
      {"detect", "detection and instance segmentation (--data coco): the detector's losses, COCO box and mask AP",
       [](const TaskOptions& o) { return std::make_shared<DetectionTask>(DetectionOptions{o.min_size, o.max_size}); }},
  };
  return entries;
}

const TaskEntry& find_task(const std::string& name) { return find_named(task_registry(), name, "--task"); }

std::shared_ptr<const Task> make_task(const std::string& name, const TaskOptions& options) {
  return find_task(name).make(options);
}

}  // namespace eshift
