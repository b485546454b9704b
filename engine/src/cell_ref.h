// CellRef: an owning pointer to a Cell, holding one of its intrusive
// references. Copying adds a reference; destroying releases one (the last
// release deletes the cell). Not thread-safe as an object, but copies of
// one cell's refs may live on any threads.
#pragma once

#include <utility>

namespace keel::detail {

class Cell;

class CellRef {
 public:
  CellRef() = default;
  explicit CellRef(Cell* c);  // adds a reference
  CellRef(const CellRef& o) : CellRef(o.c_) {}
  CellRef(CellRef&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  CellRef& operator=(CellRef o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~CellRef();
  Cell* get() const { return c_; }
  Cell* operator->() const { return c_; }
  explicit operator bool() const { return c_ != nullptr; }
  friend bool operator==(const CellRef& a, const CellRef& b) { return a.c_ == b.c_; }

 private:
  Cell* c_ = nullptr;
};

}  // namespace keel::detail
