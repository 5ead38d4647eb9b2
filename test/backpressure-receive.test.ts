// Backpressure, measured, in the receive direction: see test/helpers/backpressure.ts.
import t from 'tap';
import { backpressureCases } from './helpers/backpressure.js';

backpressureCases(t, 'receive');
