#pragma once
// The task registry: every task eshift trains, by name (--task NAME), made from the task options
// of the run's configuration. A task joins with one entry in registry.cpp: classify
// (classification.h) and detect (detection.h).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eshift/tasks/task.h"

namespace eshift {

// The task settings of a run (config.json: label_smoothing, top5; min_size, max_size).
struct TaskOptions {
  double label_smoothing = 0;
  bool top5 = false;
  int64_t min_size = 800, max_size = 1333;
};

struct TaskEntry {
  std::string name;         // --task NAME
  std::string description;  // one line for --help
  std::function<std::shared_ptr<const Task>(const TaskOptions&)> make;
};

const std::vector<TaskEntry>& task_registry();

constexpr const char* kDefaultTask = "classify";

// The entry of `name`; throws std::invalid_argument ("unknown --task 'x' (known: …)").
const TaskEntry& find_task(const std::string& name);
std::shared_ptr<const Task> make_task(const std::string& name, const TaskOptions& options);

}  // namespace eshift
