//! Generational arenas: per-entry state addressed by `Copy` ids (DESIGN.md §2).
//!
//! A slot freed and reused gets a new generation, so a stale [`EntryId`] (for example one
//! still sitting in the timer heap) never reaches the new occupant.

/// Handle of one entry of a [`Node`](crate::Node) table (registration, cache entry,
/// pending request). `Copy`, cheap, and safe to keep after the entry is gone: lookups with a
/// stale id return `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Generation values stay below 2^24 so an id packs into a timer key (see `timer`).
const GENERATION_MASK: u32 = (1 << 24) - 1;

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A vector of slots with a free list.
#[derive(Debug)]
pub(crate) struct Arena<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Arena<T> {
    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` and returns its id.
    pub(crate) fn insert(&mut self, value: T) -> EntryId {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            EntryId {
                index,
                generation: slot.generation,
            }
        } else {
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                value: Some(value),
            });
            EntryId {
                index,
                generation: 0,
            }
        }
    }

    /// Removes and returns the entry, if `id` is current.
    pub(crate) fn remove(&mut self, id: EntryId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(id.index);
        self.len -= 1;
        Some(value)
    }

    pub(crate) fn get(&self, id: EntryId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: EntryId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Live entries with their ids, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (EntryId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    EntryId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_do_not_reach_new_occupants() {
        let mut a = Arena::default();
        let x = a.insert(1);
        assert_eq!(a.remove(x), Some(1));
        let y = a.insert(2);
        assert_eq!(y.index, x.index);
        assert_eq!(a.get(x), None);
        assert_eq!(a.get(y), Some(&2));
        assert_eq!(a.remove(x), None);
        assert_eq!(a.len(), 1);
    }
}
