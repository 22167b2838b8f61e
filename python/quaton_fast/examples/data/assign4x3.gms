$offlisting
*  assign4x3.gms -- a small example shipped with quaton_fast
*  (quaton_fast.examples.path("assign4x3.gms")); written by hand for the documentation, not from QPLIB.
*  The same model as assign4x3.qplib (see its header): b(3*i + a + 1) = 1 <=> item i in slot a.
*  Optimum (brute force over all 2^12 points): objective 17 (b1 = b5 = b8 = b10 = 1), unique.

Variables  objvar,b1,b2,b3,b4,b5,b6,b7,b8,b9,b10,b11,b12;

Binary Variables  b1,b2,b3,b4,b5,b6,b7,b8,b9,b10,b11,b12;

Equations  e1,e2,e3,e4,e5,e6,e7,e8;

e1..  - objvar + 1*b1 + 3*b2 + 2*b3 + 2*b4 + 1*b5 + 3*b6 + 3*b7 + 2*b8 + 1*b9 + 1*b10 + 1*b11 + 2*b12 + 5*b2*b4 + 10*b3*b4 + 5*b1*b5 + 5*b3*b5 + 10*b1*b6 + 5*b2*b6 + 2*b2*b7 + 4*b3*b7 + 3*b5*b7 + 6*b6*b7 + 2*b1*b8 + 2*b3*b8 + 3*b4*b8 + 3*b6*b8 + 4*b1*b9 + 2*b2*b9 + 6*b4*b9 + 3*b5*b9 + 1*b5*b10 + 2*b6*b10 + 4*b8*b10 + 8*b9*b10 + 1*b4*b11 + 1*b6*b11 + 4*b7*b11 + 4*b9*b11 + 2*b4*b12 + 1*b5*b12 + 8*b7*b12 + 4*b8*b12 =E= 0;
e2..  b1 + b2 + b3 =E= 1;
e3..  b4 + b5 + b6 =E= 1;
e4..  b7 + b8 + b9 =E= 1;
e5..  b10 + b11 + b12 =E= 1;
e6..  3*b1 + 2*b4 + 2*b7 + 1*b10 =L= 4;
e7..  3*b2 + 2*b5 + 2*b8 + 1*b11 =L= 4;
e8..  3*b3 + 2*b6 + 2*b9 + 1*b12 =L= 4;

Model m / all /;

m.limrow=0; m.limcol=0;

$if NOT '%gams.u1%' == '' $include '%gams.u1%'

$if not set MIQCP $set MIQCP MIQCP
Solve m using %MIQCP% minimizing objvar;
